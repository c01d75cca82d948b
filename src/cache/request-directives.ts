/** The cache directives of a request (RFC 9111 §5.2.1, and Pragma per §5.4). Pure. */
import { deltaSeconds, type FieldValue, parseCacheControl } from './cache-control.ts'

export interface RequestDirectives {
  readonly noCache: boolean
  readonly noStore: boolean
  readonly onlyIfCached: boolean
  readonly maxAgeMs: number | undefined
  /** Staleness the client accepts, ms; Infinity for a bare max-stale. */
  readonly maxStaleMs: number | undefined
  readonly minFreshMs: number | undefined
}

const NONE: RequestDirectives = {
  noCache: false,
  noStore: false,
  onlyIfCached: false,
  maxAgeMs: undefined,
  maxStaleMs: undefined,
  minFreshMs: undefined,
}

/**
 * The directives a cache that ignores clients' refresh requests acts on: only-if-cached
 * and no-store (neither makes the origin do more work). A browser reload (no-cache,
 * max-age=0, Pragma: no-cache) then gets what is stored, as nginx, Varnish and CDNs do by
 * default, so no client can bypass the cache and load the origin at will.
 */
export function withoutRefresh(directives: RequestDirectives): RequestDirectives {
  if (directives === NONE) return NONE
  return { ...NONE, noStore: directives.noStore, onlyIfCached: directives.onlyIfCached }
}

export function parseRequestDirectives(cacheControl: FieldValue, pragma: FieldValue): RequestDirectives {
  if (cacheControl === undefined) {
    // RFC 9111 §5.4: Pragma: no-cache counts only when Cache-Control is absent.
    if (pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(String(pragma)))
      return { ...NONE, noCache: true }
    return NONE
  }
  const d = parseCacheControl(cacheControl)
  if (d.size === 0) return NONE
  const maxAge = deltaSeconds(d, 'max-age')
  const maxStale = d.get('max-stale')
  const minFresh = deltaSeconds(d, 'min-fresh')
  return {
    noCache: d.has('no-cache'),
    noStore: d.has('no-store'),
    onlyIfCached: d.has('only-if-cached'),
    maxAgeMs: maxAge === undefined ? undefined : maxAge * 1000,
    maxStaleMs:
      maxStale === undefined
        ? undefined
        : maxStale === true
          ? Number.POSITIVE_INFINITY
          : (deltaSeconds(d, 'max-stale') ?? 0) * 1000,
    minFreshMs: minFresh === undefined ? undefined : minFresh * 1000,
  }
}
