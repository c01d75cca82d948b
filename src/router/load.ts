/**
 * Reads a route file (JSON, or YAML for `.yaml` / `.yml`), validates it and compiles it
 * into a Router. The only module of the router that does I/O; it keeps no state, so a
 * reload is one more call whose result replaces the old Router, or is dropped if it throws.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { EdgecacheError, hasCode, ProblemsError } from '../errors.ts'
import { compileRoutes } from './compile.ts'
import type { Router } from './route.ts'
import { parseRouteFile, type RouteFile, validateRouteFile } from './route-file.ts'
import { type KnownPools, upstreamProblems } from './route-upstreams.ts'
import { lazyRequire } from '../lazy-require.ts'

/** Loaded for the first YAML file only. */
const yaml = lazyRequire<typeof import('yaml')>('yaml')

/**
 * Reads, validates and compiles the route file at `path`.
 *
 * @throws EdgecacheError `EC_ERR_ROUTES_FILE` when the file cannot be read or is not valid
 *   JSON or YAML (the message names the file), and ProblemsError `EC_ERR_ROUTES_INVALID`,
 *   listing every problem in `problems`, when its content is invalid.
 * @example const router = loadRoutes('/etc/edgecache/routes.yaml')
 */
export function loadRoutes(path: string, pools?: KnownPools): Router {
  return compileChecked(parseRouteFile(readRouteFile(path), path), pools)
}

/**
 * Compiles a valid route file once its pools are known to exist; without config pools
 * (`pools` undefined or naming none) there is nothing to check them against.
 *
 * @throws ProblemsError `EC_ERR_ROUTES_INVALID` naming each route and unknown pool.
 */
export function compileChecked(file: RouteFile, pools: KnownPools | undefined): Router {
  const problems = poolProblems(file, pools)
  if (problems.length > 0) throw new ProblemsError('EC_ERR_ROUTES_INVALID', problems)
  return compileRoutes(file)
}

function poolProblems(file: RouteFile, pools: KnownPools | undefined): string[] {
  return pools === undefined || pools.names.size === 0 ? [] : upstreamProblems(file, pools)
}

/**
 * Checks the route file at `path` without throwing: the compiled router, or every problem.
 * A file that cannot be read gives one problem, the `EC_ERR_ROUTES_FILE` message.
 *
 * @example
 * const result = checkRoutesFile('routes.yaml')
 * if (!result.ok) for (const p of result.problems) console.error(p)
 */
export function checkRoutesFile(
  path: string,
  pools?: KnownPools,
): { readonly ok: true; readonly router: Router } | { readonly ok: false; readonly problems: string[] } {
  let content: unknown
  try {
    content = readRouteFile(path)
  } catch (err) {
    if (hasCode(err, 'EC_ERR_ROUTES_FILE')) return { ok: false, problems: [err.message] }
    throw err
  }
  const result = validateRouteFile(content, path)
  if (!result.ok) return result
  const problems = poolProblems(result.file, pools)
  if (problems.length > 0) return { ok: false, problems }
  return { ok: true, router: compileRoutes(result.file) }
}

/**
 * The problems of the route file a config names, for `edgecache check-config`: none when
 * `routes` is unset or the file is valid; otherwise each problem prefixed with the file's
 * path (a file that cannot be read is named by its one message already).
 *
 * With `pools`, every pool a route names must be one of them (see route-upstreams.ts).
 *
 * @example const problems = routeFileProblems(config.routes, poolNamesOf(config))
 */
export function routeFileProblems(routes: string | undefined, pools?: KnownPools): string[] {
  if (routes === undefined) return poolProblems(parseRouteFile({ routes: [] }), pools)
  let content: unknown
  try {
    content = readRouteFile(routes)
  } catch (err) {
    if (hasCode(err, 'EC_ERR_ROUTES_FILE')) return [err.message]
    throw err
  }
  const result = validateRouteFile(content, routes)
  const problems = result.ok ? poolProblems(result.file, pools) : result.problems
  return problems.map((problem) => `${routes}: ${problem}`)
}

/** The parsed content of a route file: what JSON.parse or YAML gave, not yet validated. */
export function readRouteFile(path: string): unknown {
  const extension = extname(path).toLowerCase()
  if (extension !== '.json' && extension !== '.yaml' && extension !== '.yml') {
    throw new EdgecacheError('EC_ERR_ROUTES_FILE', [path, 'expected a .json, .yaml or .yml file'])
  }
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new EdgecacheError('EC_ERR_ROUTES_FILE', [path, (err as Error).message], { cause: err })
  }
  try {
    return extension === '.json' ? JSON.parse(text) : yaml().parse(text)
  } catch (err) {
    const kind = extension === '.json' ? 'JSON' : 'YAML'
    // yaml's message is "<problem> at line L, column C:" and then a source excerpt; keep the first line.
    const detail = ((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')
    throw new EdgecacheError('EC_ERR_ROUTES_FILE', [path, `${kind} syntax error: ${detail}`], { cause: err })
  }
}
