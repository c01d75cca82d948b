/**
 * Request collapsing: while one request for a key is on its way to the origin, others for
 * the same key wait for it to finish storing instead of going upstream too. Waiting is
 * bounded; after it, the waiter looks the key up again and goes upstream itself if the
 * response was not stored.
 */

export interface Collapser {
  /**
   * Marks `key` as being fetched and returns the function to call when that fetch has
   * stored its response or given up; undefined when a fetch for `key` is already running.
   */
  lead(key: string): (() => void) | undefined
  /** Resolves when the running fetch for `key` finishes, or after `timeoutMs`; at once if none runs. */
  follow(key: string, timeoutMs: number): Promise<void>
  /** Keys being fetched now. */
  readonly size: number
  /** Requests waiting for another's fetch now. */
  readonly waiting: number
}

export function createCollapser(): Collapser {
  const inflight = new Map<string, { promise: Promise<void>; resolve: () => void }>()
  let waiting = 0
  return {
    lead(key) {
      if (inflight.has(key)) return undefined
      let resolve!: () => void
      const promise = new Promise<void>((r) => {
        resolve = r
      })
      const entry = { promise, resolve }
      inflight.set(key, entry)
      return () => {
        if (inflight.get(key) === entry) inflight.delete(key)
        entry.resolve()
      }
    },
    follow(key, timeoutMs) {
      const entry = inflight.get(key)
      if (entry === undefined) return Promise.resolve()
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs)
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
