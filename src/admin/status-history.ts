/**
 * The status page's charts: a ring of per-interval samples (requests, cache lookups, hits
 * and a latency histogram) over the last hour, in each process. Pure: no I/O, no clock;
 * the time comes in as `now`.
 *
 * Each process samples what it served, on interval boundaries of the wall clock (epoch
 * multiples of the interval), so the samples of several node:cluster workers line up by
 * their start and the primary sums them as it sums the other figures (status-merge.ts):
 * counts added, latency bins added bin by bin, and rates, ratios and percentiles read from
 * the sums. Sampling in the primary instead would mean a timer there asking every worker
 * every interval, whether or not anybody looks, and a gap whenever a worker is slow to
 * answer; the workers already count every request, so they keep the history too.
 *
 * Memory is fixed: `intervals` slots of one histogram each (360 × 192 bytes by default).
 * A report lists only intervals that saw a request, and only the non-empty latency bins,
 * so what crosses IPC stays small when traffic is light.
 */
import { binCount, quantile } from './latency-histogram.ts'

/** One interval as a process reports it: raw counts that add up across processes. */
export interface HistorySampleReport {
  /** Epoch ms the interval starts at: a multiple of the interval. */
  readonly at: number
  /**
   * Seconds of the interval the counts cover: less than the interval for the current one
   * (it is still going) and for the one the process started in.
   */
  readonly seconds: number
  readonly requests: number
  readonly lookups: number
  readonly hits: number
  /** `[bin, count]` of each non-empty latency bin (latency-histogram.ts). */
  readonly latency: readonly (readonly [number, number])[]
}

export interface HistoryReport {
  readonly intervalSeconds: number
  /** Seconds of history kept. */
  readonly seconds: number
  /** Oldest first; intervals without a request are left out. */
  readonly samples: readonly HistorySampleReport[]
}

/** One interval as /status.json shows it. */
export interface HistorySample {
  /** Epoch ms the interval starts at. */
  readonly at: number
  readonly requests: number
  /** Requests over the seconds the interval covers so far (at least one second). */
  readonly requestsPerSecond: number
  /** Hits over cache lookups; null with no lookup. */
  readonly hitRatio: number | null
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

export interface HistorySnapshot {
  readonly intervalSeconds: number
  readonly seconds: number
  /** Oldest first; intervals without a request are left out (zero requests per second). */
  readonly samples: readonly HistorySample[]
}

export interface History {
  /** Counts one request finished at `now`. */
  record(now: number, lookup: boolean, hit: boolean, bin: number): void
  /** The intervals inside the last `seconds`, the current one included. */
  report(now: number): HistoryReport
}

interface Slot {
  /** Interval number (epoch ms / interval ms); a slot from an older interval is reset before use. */
  interval: number
  requests: number
  lookups: number
  hits: number
  readonly latency: Uint32Array
}

/**
 * @example
 * const history = createHistory({ intervalSeconds: 10, intervals: 360, startedAt: clock.now() })
 * history.record(clock.now(), true, true, binOf(totalMs))
 * history.report(clock.now())
 */
export function createHistory(options: {
  readonly intervalSeconds: number
  readonly intervals: number
  /** Epoch ms the process started counting: the first interval covers only what follows. */
  readonly startedAt: number
}): History {
  const { intervalSeconds, intervals, startedAt } = options
  for (const [field, value] of [
    ['intervalSeconds', intervalSeconds],
    ['intervals', intervals],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`status history: ${field} must be a positive integer, got ${value}`)
    }
  }
  const intervalMs = intervalSeconds * 1000
  const slots: Slot[] = Array.from({ length: intervals }, () => ({
    interval: Number.NEGATIVE_INFINITY,
    requests: 0,
    lookups: 0,
    hits: 0,
    latency: new Uint32Array(binCount),
  }))

  return {
    record(now, lookup, hit, bin) {
      const interval = Math.floor(now / intervalMs)
      const slot = slots[((interval % intervals) + intervals) % intervals] as Slot
      if (slot.interval !== interval) {
        slot.interval = interval
        slot.requests = slot.lookups = slot.hits = 0
        slot.latency.fill(0)
      }
      slot.requests++
      if (lookup) slot.lookups++
      if (hit) slot.hits++
      slot.latency[bin] = (slot.latency[bin] ?? 0) + 1
    },
    report(now) {
      const current = Math.floor(now / intervalMs)
      const samples: HistorySampleReport[] = []
      for (const slot of slots) {
        const age = current - slot.interval
        if (!(age >= 0 && age < intervals) || slot.requests === 0) continue
        const start = slot.interval * intervalMs
        const from = Math.max(start, startedAt)
        const to = Math.min(start + intervalMs, now)
        const latency: [number, number][] = []
        slot.latency.forEach((n, bin) => {
          if (n > 0) latency.push([bin, n])
        })
        samples.push({
          at: start,
          seconds: Math.max(0, to - from) / 1000,
          requests: slot.requests,
          lookups: slot.lookups,
          hits: slot.hits,
          latency,
        })
      }
      samples.sort((a, b) => a.at - b.at)
      return { intervalSeconds, seconds: intervalSeconds * intervals, samples }
    },
  }
}

/**
 * One history summing several processes' histories: samples of the same interval are
 * added (their `seconds` is the longest: the processes served side by side, not one
 * after the other). Every worker runs the same config, so one's interval is every one's.
 */
export function mergeHistories(histories: readonly HistoryReport[]): HistoryReport {
  const [first] = histories
  if (first === undefined) throw new Error('status history: no history to merge')
  const byStart = new Map<
    number,
    { seconds: number; requests: number; lookups: number; hits: number; bins: number[] }
  >()
  for (const history of histories) {
    for (const s of history.samples) {
      let into = byStart.get(s.at)
      if (into === undefined) {
        into = { seconds: 0, requests: 0, lookups: 0, hits: 0, bins: new Array<number>(binCount).fill(0) }
        byStart.set(s.at, into)
      }
      into.seconds = Math.max(into.seconds, s.seconds)
      into.requests += s.requests
      into.lookups += s.lookups
      into.hits += s.hits
      for (const [bin, n] of s.latency) {
        if (bin >= 0 && bin < binCount) into.bins[bin] = (into.bins[bin] ?? 0) + n
      }
    }
  }
  const samples = [...byStart]
    .sort(([a], [b]) => a - b)
    .map(
      ([at, s]): HistorySampleReport => ({
        at,
        seconds: s.seconds,
        requests: s.requests,
        lookups: s.lookups,
        hits: s.hits,
        latency: s.bins.flatMap((n, bin) => (n > 0 ? [[bin, n] as const] : [])),
      }),
    )
  return { intervalSeconds: first.intervalSeconds, seconds: first.seconds, samples }
}

/** The history /status.json shows: rates, ratios and percentiles read from the counts. */
export function historySnapshot(history: HistoryReport): HistorySnapshot {
  return {
    intervalSeconds: history.intervalSeconds,
    seconds: history.seconds,
    samples: history.samples.map((s) => {
      const bins = new Array<number>(binCount).fill(0)
      for (const [bin, n] of s.latency) if (bin >= 0 && bin < binCount) bins[bin] = n
      return {
        at: s.at,
        requests: s.requests,
        // At least a second: a request a moment into a new interval is not a burst of thousands.
        requestsPerSecond: s.requests / Math.max(1, s.seconds),
        hitRatio: s.lookups === 0 ? null : s.hits / s.lookups,
        p50Ms: quantile(bins, 0.5),
        p99Ms: quantile(bins, 0.99),
      }
    }),
  }
}
