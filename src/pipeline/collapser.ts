/**
 * Request collapsing: while one request for a key is on its way to the origin, others for
 * the same key wait for it instead of going upstream too, and learn how it ended: stored
 * (look again and serve it), failed at the origin (answer with the same failure at once:
 * the origin never sees the herd), or given up for the leader's own reasons (one waiter
 * takes over). Waiting is bounded; after it, the waiter goes upstream itself.
 */
import type { FillResult } from '../storage/store.ts'
import type { Answer } from './answer.ts'
import type { RequestContext } from './context.ts'

/**
 * How the leading request's fill ended. `failed` carries what the waiters answer with:
 * the error the fetch threw (a 502 or 504), or the 5xx status the origin answered.
 */
export type FillEnd =
  | { readonly result: Exclude<FillResult, 'failed' | 'timed-out'> }
  | {
      readonly result: 'failed' | 'timed-out'
      readonly error?: unknown
      readonly status?: number
    }

/**
 * A fill in progress that waiters may stream from before it is stored: `join` gives a
 * waiter its own answer reading the fill's body from the first byte, or undefined when
 * it cannot (the fill stopped storing, or its response does not fit the waiter's request).
 */
export interface SharedFill {
  readonly result: 'streaming'
  join(waiter: RequestContext): Answer | undefined
}

/** Ends the lead on a key, saying how; `share` lets the waiters stream the fill meanwhile. */
export interface Lead {
  (end: FillEnd): void
  share(fill: SharedFill): void
}

export interface Collapser {
  /**
   * Marks `key` as being fetched and returns the function to call when that fetch has
   * stored its response or given up; undefined when a fetch for `key` is already running.
   */
  lead(key: string): Lead | undefined
  /**
   * Resolves with how the running fetch for `key` ended, with the fill it shares (unless
   * `untilEnd`), or with undefined after `timeoutMs` or at once when none runs.
   */
  follow(key: string, timeoutMs: number, untilEnd?: boolean): Promise<FillEnd | SharedFill | undefined>
  /** Keys being fetched now. */
  readonly size: number
  /** Requests waiting for another's fetch now. */
  readonly waiting: number
}

interface Inflight {
  /** Resolves when the fill ends. */
  readonly ended: Promise<FillEnd>
  /** Resolves when the fill is shared or ends, whichever comes first. */
  readonly first: Promise<FillEnd | SharedFill>
}

export function createCollapser(): Collapser {
  const inflight = new Map<string, Inflight>()
  let waiting = 0
  return {
    lead(key) {
      if (inflight.has(key)) return undefined
      let end!: (end: FillEnd) => void
      let first!: (value: FillEnd | SharedFill) => void
      const entry: Inflight = {
        ended: new Promise<FillEnd>((r) => {
          end = r
        }),
        first: new Promise<FillEnd | SharedFill>((r) => {
          first = r
        }),
      }
      inflight.set(key, entry)
      const release = (result: FillEnd) => {
        if (inflight.get(key) === entry) inflight.delete(key)
        end(result)
        first(result)
      }
      release.share = (fill: SharedFill) => first(fill)
      return release
    },
    follow(key, timeoutMs, untilEnd = false) {
      const entry = inflight.get(key)
      if (entry === undefined) return Promise.resolve(undefined)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, timeoutMs))
        timer.unref()
      })
      waiting++
      return Promise.race([untilEnd ? entry.ended : entry.first, timeout]).finally(() => {
        waiting--
        clearTimeout(timer)
      })
    },
    get size() {
      return inflight.size
    },
    get waiting() {
      return waiting
    },
  }
}
