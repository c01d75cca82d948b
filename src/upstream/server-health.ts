/**
 * One server's health as its pool routes by it: what active checks said (down after
 * `unhealthyAfter` failures in a row, up again after `healthyAfter` passes) and what real
 * requests showed (`failures` connection failures in a row eject it for `ejectFor`, doubled
 * for each ejection in a row up to `maxEjectFor`). Pure state: the clock comes in as `now`.
 *
 * An ejected server comes back on probation when its time is up: one more failure ejects it
 * again for twice as long, one success ends the streak. A server starts up: a fresh instance
 * should not refuse traffic on a guess.
 */

export interface ServerHealthOptions {
  readonly unhealthyAfter: number
  readonly healthyAfter: number
  /** Connection failures in a row before an ejection; 0 turns passive ejection off. */
  readonly failures: number
  readonly ejectForMs: number
  readonly maxEjectForMs: number
}

/** What /ready, the status page and metrics show of a server. */
export interface ServerHealthReport {
  /** Active checks pass (or none has failed enough yet). */
  readonly checkedUp: boolean
  /** Epoch ms until which passive checks keep it out; undefined when not ejected. */
  readonly ejectedUntil: number | undefined
  /** Ejections so far. */
  readonly ejections: number
  /** Epoch ms of the last check or request outcome; undefined before the first. */
  readonly lastCheck: number | undefined
  readonly lastError: string | undefined
}

export class ServerHealth {
  readonly #options: ServerHealthOptions
  #checkedUp = true
  #checkStreak = 0
  #failureStreak = 0
  #ejectedUntil = 0
  /** Ejections in a row without a success between them: the backoff's exponent. */
  #ejectionStreak = 0
  #ejections = 0
  #lastCheck: number | undefined
  #lastError: string | undefined

  constructor(options: ServerHealthOptions) {
    this.#options = options
  }

  /** True when the pool may send it requests at `now`. */
  isAvailable(now: number): boolean {
    return this.#checkedUp && now >= this.#ejectedUntil
  }

  /** An active check's result. Returns true when it changed the checked state. */
  recordCheck(ok: boolean, now: number, error?: string): boolean {
    this.#lastCheck = now
    if (!ok) this.#lastError = error ?? 'check failed'
    // The streak counts checks that disagree with the current state.
    if (ok === this.#checkedUp) {
      this.#checkStreak = 0
      if (ok) this.#lastError = undefined
      return false
    }
    this.#checkStreak++
    const needed = ok ? this.#options.healthyAfter : this.#options.unhealthyAfter
    if (this.#checkStreak < needed) return false
    this.#checkedUp = ok
    this.#checkStreak = 0
    if (ok) this.#lastError = undefined
    return true
  }

  /**
   * A real request's outcome: `ok` when the server answered (any status), not when the
   * connection failed, was reset or timed out. Returns true when this ejected the server.
   */
  recordRequest(ok: boolean, now: number, error?: string): boolean {
    this.#lastCheck = now
    if (ok) {
      // It answered, so it is reachable: a request sent before its ejection proves it back.
      this.#failureStreak = 0
      this.#ejectionStreak = 0
      this.#ejectedUntil = 0
      this.#lastError = undefined
      return false
    }
    this.#lastError = error ?? 'request failed'
    const { failures, ejectForMs, maxEjectForMs } = this.#options
    if (failures === 0 || now < this.#ejectedUntil) return false
    this.#failureStreak++
    // On probation after an ejection, one failure is enough.
    if (this.#failureStreak < failures && this.#ejectionStreak === 0) return false
    const forMs = Math.min(maxEjectForMs, ejectForMs * 2 ** Math.min(this.#ejectionStreak, 30))
    this.#ejectedUntil = now + forMs
    this.#ejectionStreak++
    this.#ejections++
    this.#failureStreak = 0
    return true
  }

  report(now: number): ServerHealthReport {
    return {
      checkedUp: this.#checkedUp,
      ejectedUntil: now < this.#ejectedUntil ? this.#ejectedUntil : undefined,
      ejections: this.#ejections,
      lastCheck: this.#lastCheck,
      lastError: this.#lastError,
    }
  }
}
