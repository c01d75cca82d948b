/**
 * Invalidation over a CacheStore: URLs become their URL tags (so every Vary variant goes),
 * prefixes become key prefixes, and the whole request is one store purge, so an entry
 * reached twice counts once.
 */
import { primaryKey } from '../cache/cache-key.ts'
import type { Clock } from '../clock.ts'
import type { CacheStore, PurgeSelector } from '../storage/store.ts'
import type { InvalidationRequest, InvalidationResult, Invalidator } from './invalidator.ts'
import { urlTag } from './tags.ts'

export interface StoreInvalidatorDeps {
  readonly store: CacheStore
  /** Measures how long a purge took. */
  readonly clock: Clock
  /**
   * The URL part of the cache key an absolute URL is stored under, when routes normalise
   * keys (query rules); by default the URL as it is.
   */
  readonly urlKey?: (url: string) => string
}

/** The store key an absolute URL (or URL prefix) maps to; throws on a URL that does not parse. */
export function keyOfUrl(url: string): string {
  const u = new URL(url)
  return primaryKey(u.protocol.slice(0, -1), u.host, u.pathname + u.search)
}

export function createStoreInvalidator({
  store,
  clock,
  urlKey = keyOfUrl,
}: StoreInvalidatorDeps): Invalidator {
  return {
    async invalidate(request: InvalidationRequest): Promise<InvalidationResult> {
      const started = clock.now()
      const tags = [...(request.tags ?? []), ...(request.urls ?? []).map((url) => urlTag(urlKey(url)))]
      const selector: PurgeSelector = {
        tags,
        prefixes: (request.prefixes ?? []).map(keyOfUrl),
        all: request.all === true,
      }
      const purged = await store.purge(selector, { soft: request.soft, dryRun: request.dryRun })
      return { purged, soft: request.soft, dryRun: request.dryRun, tookMs: clock.now() - started }
    },
  }
}
