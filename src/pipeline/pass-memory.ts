/**
 * Remembers, for a short while, the keys whose last response could not be stored
 * (Varnish's hit-for-miss). Requests for those keys go straight upstream instead of
 * queueing behind one another for a response that will not be shared: without it, every
 * uncacheable URL under concurrent load would be fetched one request at a time.
 */
import type { Clock } from '../clock.ts'

export interface PassMemory {
  /** True when `key`'s last response was not storable, within the memory's time. */
  has(key: string): boolean
  remember(key: string): void
  forget(key: string): void
}

/**
 * @param maxKeys bound on remembered keys; the oldest go first.
 * @param ttlMs how long a key is remembered: a response that becomes cacheable again is
 *   collapsed again after at most this long (it is stored at once either way).
 */
export function createPassMemory(maxKeys: number, ttlMs: number, clock: Clock): PassMemory {
  const until = new Map<string, number>()
  return {
    has(key) {
      const expires = until.get(key)
      if (expires === undefined) return false
      if (expires > clock.now()) return true
      until.delete(key)
      return false
    },
    remember(key) {
      until.delete(key)
      until.set(key, clock.now() + ttlMs)
      if (until.size > maxKeys) {
        // Map iterates in insertion order: the first key is the oldest.
        const oldest = until.keys().next().value
        if (oldest !== undefined) until.delete(oldest)
      }
    },
    forget(key) {
      until.delete(key)
    },
  }
}
