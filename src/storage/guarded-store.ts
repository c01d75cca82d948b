/**
 * A remote store behind a circuit breaker: while it is down, lookups miss at once and
 * writes are dropped at once (both would only wait to fail), and purges fail loudly.
 */
import type { CircuitBreaker } from './circuit-breaker.ts'
import type { CacheStore, PurgeOptions, PurgeSelector, StoredEntry, StoreStats } from './store.ts'

export function guardStore(store: CacheStore, breaker: CircuitBreaker): CacheStore {
  const open = () => breaker.rejecting()
  return {
    get: (key: string) => (open() ? Promise.resolve(undefined) : breaker.run(() => store.get(key))),
    set: (key: string, entry: StoredEntry) =>
      open() ? Promise.resolve(false) : breaker.run(() => store.set(key, entry)),
    delete: (key: string) => breaker.run(() => store.delete(key)),
    clear: () => breaker.run(() => store.clear()),
    purge: (selector: PurgeSelector, options: PurgeOptions) =>
      breaker.run(() => store.purge(selector, options)),
    keysForTag: (tag: string) => breaker.run(() => store.keysForTag(tag)),
    stats: (): StoreStats => store.stats(),
    close: () => store.close(),
  }
}
