/**
 * Request collapsing: while one request for a key is on its way to the origin, others for
 * the same key wait for it instead of going upstream too, and learn how it ended: stored
 * (look again and serve it), failed at the origin (answer with the same failure at once:
 * the origin never sees the herd), or given up for the leader's own reasons (one waiter
 * takes over). Waiting is bounded; after it, the waiter goes upstream itself.
 */
import type { FillResult } from '../storage/store.ts'

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

export interface Collapser {
  /**
   * Marks `key` as being fetched and returns the function to call when that fetch has
   * stored its response or given up; undefined when a fetch for `key` is already running.
   */
  lead(key: string): ((end: FillEnd) => void) | undefined
  /**
   * Resolves with how the running fetch for `key` ended, or with undefined after
   * `timeoutMs` or at once when none runs.
   */
  follow(key: string, timeoutMs: number): Promise<FillEnd | undefined>
  /** Keys being fetched now. */
  readonly size: number
  /** Requests waiting for another's fetch now. */
  readonly waiting: number
}

interface Inflight {
  readonly promise: Promise<FillEnd>
  readonly resolve: (end: FillEnd) => void
}

export function createCollapser(): Collapser {
  const inflight = new Map<string, Inflight>()
  let waiting = 0
  return {
    lead(key) {
      if (inflight.has(key)) return undefined
      let resolve!: (end: FillEnd) => void
      const promise = new Promise<FillEnd>((r) => {
        resolve = r
      })
      const entry = { promise, resolve }
      inflight.set(key, entry)
      return (end) => {
        if (inflight.get(key) === entry) inflight.delete(key)
        entry.resolve(end)
      }
    },
    follow(key, timeoutMs) {
      const entry = inflight.get(key)
      if (entry === undefined) return Promise.resolve(undefined)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, timeoutMs))
        timer.unref()
      })
      waiting++
      return Promise.race([entry.promise, timeout]).finally(() => {
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
