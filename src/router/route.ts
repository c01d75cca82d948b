/**
 * What a route is once compiled: a name for metrics and logs, the cache policy its URLs get,
 * the tags it gives their responses, and the upstream that serves them. The route file's
 * loader builds these; the route stage attaches the match to each request.
 */

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

/** A route's cache policy; durations are ms. Unset fields leave the response's own say. */
export interface CachePolicy {
  /** Never look up or store: every request goes upstream (`Cache-Status: fwd=bypass`). */
  readonly bypass: boolean
  /** Freshness when the response gives none (no max-age, s-maxage, Expires). */
  readonly ttlMs?: number
  /** Freshness replacing whatever the response says (it must still be storable). */
  readonly ttlOverrideMs?: number
  /** Clamps applied to the freshness lifetime last. */
  readonly minTtlMs?: number
  readonly maxTtlMs?: number
  /** stale-while-revalidate / stale-if-error windows when the response sets none. */
  readonly staleWhileRevalidateMs?: number
  readonly staleIfErrorMs?: number
  /** Store responses that carry Set-Cookie, with Set-Cookie removed from the stored copy. @default false */
  readonly ignoreSetCookie: boolean
  readonly key: KeyPolicy
}

export interface Route {
  readonly name: string
  readonly policy: CachePolicy
  /** Tag templates; `{param}` is replaced by the path parameter of that name. */
  readonly tags: readonly string[]
  /** Named upstream; undefined means the default one. */
  readonly upstream: string | undefined
}

export interface RouteMatch {
  readonly route: Route
  /** Path parameters by name (`:id` → `{ id: '42' }`; a `*` tail is `wild`). */
  readonly params: Readonly<Record<string, string>>
  /** The route's tags with parameters filled in. */
  readonly tags: readonly string[]
}

export interface Router {
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
