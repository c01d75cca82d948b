/**
 * A pool's retry budget, as Finagle's RetryBudget and Envoy's retry_budget bound retries:
 * retries may add at most `ratio` of the requests of the last 10 seconds (0.2: at most 20%
 * more requests than clients sent), plus `minPerSecond` a second so a quiet pool can still
 * retry. Under a failing pool every request wants a retry; the budget keeps that from
 * becoming a storm that doubles the load on servers already in trouble. Pure: time comes in
 * as `now`.
 */

/** Seconds of history: one bucket each. */
const WINDOW_SECONDS = 10

export interface RetryBudget {
  /** Counts a first try (not a retry). */
  request(now: number): void
  /** True, and the retry counted, when the budget allows one more retry at `now`. */
  tryRetry(now: number): boolean
}

/**
 * @example
 * const budget = createRetryBudget(0.2, 3)
 * budget.request(clock.now())
 * if (budget.tryRetry(clock.now())) retry()
 */
export function createRetryBudget(ratio: number, minPerSecond: number): RetryBudget {
  const requests = new Array<number>(WINDOW_SECONDS).fill(0)
  const retries = new Array<number>(WINDOW_SECONDS).fill(0)
  /** The second of the newest bucket; -1 before the first call. */
  let second = -1

  /** Moves the window to `now`'s second, clearing the seconds skipped. */
  const advance = (now: number): number => {
    const current = Math.floor(now / 1000)
    if (second === -1) second = current
    if (current > second) {
      const steps = Math.min(WINDOW_SECONDS, current - second)
      for (let s = 1; s <= steps; s++) {
        const slot = (second + s) % WINDOW_SECONDS
        requests[slot] = 0
        retries[slot] = 0
      }
      second = current
    }
    return current % WINDOW_SECONDS
  }
  const sum = (counts: readonly number[]) => counts.reduce((a, b) => a + b, 0)

  return {
    request(now) {
      requests[advance(now)]!++
    },
    tryRetry(now) {
      const slot = advance(now)
      const allowed = retries[slot]! < minPerSecond || sum(retries) < ratio * sum(requests)
      if (allowed) retries[slot]!++
      return allowed
    },
  }
}
