/**
 * Invalidation as operators ask for it (tags, URLs, URL prefixes, everything; hard or soft),
 * translated into store purges. The admin API, the PURGE method and the CLI all end here.
 */

/**
 * Who asked for an invalidation, for the status page: the admin API (`POST /invalidate`,
 * the status page's form included), the CLI (`edgecache purge`, which calls the admin API
 * and says so in its User-Agent), the PURGE method on the proxy listener, or the cache
 * itself after an unsafe method succeeded (RFC 9111 §4.4).
 */
export type InvalidationSource = 'admin' | 'cli' | 'purge-method' | 'unsafe-method'

/**
 * The User-Agent `edgecache purge` sends, by which the admin API tells the CLI's calls
 * from others'. Informational only: the token decides who may purge.
 */
export const cliUserAgent = 'edgecache-cli'

export interface InvalidationRequest {
  readonly tags?: readonly string[]
  /** Absolute URLs: every stored variant of each is purged. */
  readonly urls?: readonly string[]
  /** Absolute URL prefixes: scheme, host and the start of a path. */
  readonly prefixes?: readonly string[]
  readonly all?: boolean
  /** Mark stale instead of deleting: served within stale windows while it refreshes. */
  readonly soft: boolean
  /** Count only. */
  readonly dryRun: boolean
  readonly source: InvalidationSource
}

export interface InvalidationResult {
  readonly purged: number
  readonly soft: boolean
  readonly dryRun: boolean
  readonly tookMs: number
}

export interface Invalidator {
  invalidate(request: InvalidationRequest): Promise<InvalidationResult>
}
