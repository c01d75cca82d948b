/**
 * What a route is once compiled: a name for metrics and logs, the cache policy its URLs get,
 * the tags it gives their responses, and the upstream that serves them. The route file's
 * loader builds these; the route stage attaches the match to each request.
 */
import type { FreshnessPolicy } from '../cache/freshness.ts'
import type { RateLimitSpec } from './route-limits.ts'
import type { Rule } from './rules.ts'

/** Cache-key rules: which parts of a request make two requests one cache entry. */
export interface KeyPolicy {
  /** Query parameters dropped from the key; `*` globs allowed (`utm_*`). */
  readonly ignoreQuery: readonly string[]
  /** When non-empty, only these query parameters are kept in the key. */
  readonly keepQuery: readonly string[]
  /** Sort query parameters by name so their order does not split entries. */
  readonly sortQuery: boolean
  /** Request header fields (lowercase) whose values join the key. */
  readonly headers: readonly string[]
  /** Cookie names whose values join the key. */
  readonly cookies: readonly string[]
}

/**
 * A route's cache policy; durations are ms. Unset fields leave the response's own say. The
 * freshness fields (ttl, ttlOverride, min/max TTL, stale windows) are the engine's own
 * FreshnessPolicy, which applies them after the RFC 9111 computation.
 */
export interface CachePolicy extends FreshnessPolicy {
  /** Never look up or store: every request goes upstream (`Cache-Status: fwd=bypass`). */
  readonly bypass: boolean
  /** Store responses that carry Set-Cookie, with Set-Cookie removed from the stored copy. @default false */
  readonly ignoreSetCookie: boolean
  /**
   * Whether a client's own Cache-Control and Pragma (no-cache, max-age, min-fresh,
   * max-stale) count on this route; unset: `cache.requestDirectives`.
   */
  readonly requestDirectives?: 'honour' | 'ignore' | undefined
  /**
   * How long past its freshness a stored response may stand in when the origin cannot be
   * reached (RFC 9111 §4.2.4); unset: `cache.staleIfDisconnected`; 0 turns it off.
   */
  readonly staleIfDisconnectedMs?: number | undefined
  /**
   * What a single-range request that misses fetches: the whole response (`whole`), or the
   * range, kept as a part of the representation (`parts`, RFC 9111 §3.3, §3.4); unset:
   * `cache.rangeRequests`.
   */
  readonly rangeRequests?: 'whole' | 'parts' | undefined
  readonly key: KeyPolicy
}

export interface Route {
  readonly name: string
  readonly policy: CachePolicy
  /** Tag templates; `{param}` is replaced by the path parameter of that name. */
  readonly tags: readonly string[]
  /** Named upstream; undefined means the default one. */
  readonly upstream: string | undefined
  /** Token buckets for its requests; undefined: not limited. */
  readonly rateLimit?: RateLimitSpec | undefined
  /** Request rules of its own, run after the route file's top-level ones. */
  readonly rules?: readonly Rule[]
  /** Answer 403 unless the client showed a verified TLS certificate (mTLS). @default false */
  readonly requireClientCert?: boolean
}

export interface RouteMatch {
  readonly route: Route
  /** Path parameters by name (`:id` → `{ id: '42' }`; a `*` tail is `wild`). */
  readonly params: Readonly<Record<string, string>>
  /** The route's tags with parameters filled in. */
  readonly tags: readonly string[]
}

export interface Router {
  /** The route file's top-level request rules, run before routing. */
  readonly rules?: readonly Rule[]
  /** The first route in file order that matches, else the default route. Never throws. */
  match(method: string, host: string, path: string): RouteMatch
  /** Number of routes, the default excluded. */
  readonly size: number
}

export const defaultKeyPolicy: KeyPolicy = {
  ignoreQuery: [],
  keepQuery: [],
  sortQuery: false,
  headers: [],
  cookies: [],
}

export const defaultPolicy: CachePolicy = { bypass: false, ignoreSetCookie: false, key: defaultKeyPolicy }
