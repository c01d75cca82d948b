/**
 * Checks a route file against the pools the config defines: every `upstream:` a route (or
 * the default route) gives must name a pool, and a route without one needs the default
 * pool. Pure; used at start, on reload and by `check-config`, so an unknown pool is refused
 * before any request could reach it.
 */
import type { RouteFile } from './route-file.ts'

/** The pools a config defines, as far as routes are concerned. */
export interface KnownPools {
  readonly names: ReadonlySet<string>
  /** A pool serves routes without `upstream:` (upstream.url, or a pool named default). */
  readonly hasDefault: boolean
}

/**
 * Each problem names the route and the pool: `routes[1] (api).upstream: unknown pool "ap"
 * (pools: app, default)`.
 *
 * @example const problems = upstreamProblems(parseRouteFile(content), poolNamesOf(config))
 */
export function upstreamProblems(file: RouteFile, pools: KnownPools): string[] {
  const problems: string[] = []
  const known = pools.names.size === 0 ? 'none are configured' : `pools: ${[...pools.names].join(', ')}`
  const check = (where: string, upstream: string | undefined) => {
    if (upstream === undefined) {
      if (!pools.hasDefault) {
        problems.push(
          `${where}.upstream: required, as there is no default pool (set upstream.url or name a pool "default"; ${known})`,
        )
      }
      return
    }
    if (!pools.names.has(upstream)) problems.push(`${where}.upstream: unknown pool "${upstream}" (${known})`)
  }
  for (const [index, route] of file.routes.entries())
    check(`routes[${index}] (${route.name})`, route.upstream)
  check('default', file.default.upstream)
  return problems
}
