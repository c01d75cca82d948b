/**
 * Invalidation as operators ask for it (tags, URLs, URL prefixes, everything; hard or soft),
 * translated into store purges. The admin API, the PURGE method and the CLI all end here.
 */

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
