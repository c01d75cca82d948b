/**
 * `edgecache routes test URL`: shows which route a request would take, with its
 * parameters, tags, cache policy and cache key, without starting the proxy. The route file
 * is `--routes FILE`, else the config's `routes` (`--config FILE` or `EDGECACHE_CONFIG`, and
 * `EDGECACHE_ROUTES`). Exit codes: 0 shown (the default route too), 1 a bad config or route
 * file, 2 usage error.
 */
import { loadConfig } from '../config/load.ts'
import { formatDuration } from '../config/units.ts'
import { type KeyHeaders, routeCacheKey } from '../router/cache-key.ts'
import { loadRoutes } from '../router/load.ts'
import type { CachePolicy, Router } from '../router/route.ts'
import type { ParsedArgs } from './args.ts'

/** Where the command writes: process.stdout and process.stderr, or a test's buffer. */
export interface Output {
  write(text: string): unknown
}

const USAGE =
  "usage: edgecache routes test [--config FILE | --routes FILE] URL [--method M] [--header 'K: V']..."

/**
 * Runs `edgecache routes SUBCOMMAND`; `test` is the one there is.
 *
 * @example
 * process.exitCode = await runRoutes(parseArgs(process.argv.slice(2)), process.env, process.stdout, process.stderr)
 */
export async function runRoutes(
  args: ParsedArgs,
  env: NodeJS.ProcessEnv,
  out: Output,
  err: Output,
): Promise<number> {
  const [subcommand, ...rest] = args.positionals
  if (subcommand === 'test') return runRoutesTest({ ...args, positionals: rest }, env, out, err)
  err.write(
    subcommand === undefined
      ? `edgecache routes: name a subcommand\n${USAGE}\n`
      : `edgecache routes: unknown subcommand ${JSON.stringify(subcommand)}\n${USAGE}\n`,
  )
  return 2
}

/**
 * Runs `edgecache routes test`; `args.positionals` is `[URL]`, the words after `test`.
 * URL is absolute (`https://shop.example/p/42?x=1`), or a path whose host comes from
 * `--header 'Host: ...'`. The target is taken as written, not normalised, as the proxy
 * receives it.
 *
 * @example
 * await runRoutesTest(parseArgs(['routes', '--routes', 'routes.yaml', 'https://shop.example/p/42']), process.env, process.stdout, process.stderr)
 */
export async function runRoutesTest(
  args: ParsedArgs,
  env: NodeJS.ProcessEnv,
  out: Output,
  err: Output,
): Promise<number> {
  const usage = (problem: string): number => {
    err.write(`edgecache routes test: ${problem}\n${USAGE}\n`)
    return 2
  }
  const [url, ...extra] = args.positionals
  if (url === undefined) return usage('name a URL to test')
  if (extra.length > 0) return usage(`unexpected argument ${JSON.stringify(extra[0])}`)
  const headers: Record<string, string | string[]> = {}
  for (const field of args.routes?.headers ?? []) {
    const colon = field.indexOf(':')
    const name = field.slice(0, colon).trim().toLowerCase()
    if (colon === -1 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      return usage(`--header: expected 'Name: value', got ${JSON.stringify(field)}`)
    }
    const value = field.slice(colon + 1).trim()
    const earlier = headers[name]
    headers[name] =
      earlier === undefined ? value : [...(typeof earlier === 'string' ? [earlier] : earlier), value]
  }
  const request = requestOf(url, headers)
  if (request === undefined) {
    return usage(
      `expected an absolute http:// or https:// URL or a path starting with "/", got ${JSON.stringify(url)}`,
    )
  }
  const method = (args.routes?.method ?? 'GET').toUpperCase()

  let file = args.flags.routes
  if (file === undefined) {
    try {
      file = loadConfig({
        env,
        flags: { ...(args.flags.config === undefined ? {} : { config: args.flags.config }) },
      }).routes
    } catch (error) {
      return fail(error, err)
    }
  }
  if (file === undefined) {
    return usage('no route file; pass --routes FILE, set EDGECACHE_ROUTES, or set routes in the config file')
  }
  let router: Router
  try {
    router = loadRoutes(file)
  } catch (error) {
    return fail(error, err, file)
  }

  const found = router.match(method, request.host, request.target)
  const { route, params, tags } = found
  const { policy } = route
  const names = Object.keys(params)
  const key = policy.bypass
    ? '(none: the route bypasses the cache)'
    : routeCacheKey(request.scheme, request.host, request.target, headers as KeyHeaders, policy.key)
  const lines: [string, string][] = [
    ['route', route.name],
    ['params', names.length === 0 ? '(none)' : names.map((name) => `${name}=${params[name]}`).join(' ')],
    ['tags', tags.length === 0 ? '(none)' : tags.join(' ')],
    ['cache key', key],
    ['policy', describePolicy(policy)],
    ['upstream', route.upstream ?? '(default)'],
  ]
  const shown = request.host === '' ? request.target : `${request.scheme}://${request.host}${request.target}`
  out.write(`${method} ${shown}\n`)
  for (const [label, value] of lines) out.write(`  ${`${label}:`.padEnd(11)}${value}\n`)
  return 0
}

/** Scheme, host and target of the URL argument; a path takes its host from the Host header. */
function requestOf(
  url: string,
  headers: Record<string, string | string[]>,
): { scheme: string; host: string; target: string } | undefined {
  if (url.startsWith('/')) {
    const host = headers.host
    return { scheme: 'http', host: (typeof host === 'string' ? host : host?.[0]) ?? '', target: url }
  }
  // Taken apart by hand, not by URL, which would normalise the path ("/a/../b") and the query.
  const match = /^(https?):\/\/([^/?#@]+)([^#]*)/i.exec(url)
  if (match === null) return undefined
  const [, scheme = '', host = '', rest = ''] = match
  headers.host ??= host
  const target = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest
  return { scheme: scheme.toLowerCase(), host: host.toLowerCase(), target }
}

/** The policy fields a route sets, in words: `ttl 10m, staleIfError 1d, query sort`. */
export function describePolicy(policy: CachePolicy): string {
  if (policy.bypass) return 'bypass (never cached)'
  const parts: string[] = []
  const durations: [string, number | undefined][] = [
    ['ttl', policy.ttlMs],
    ['ttlOverride', policy.ttlOverrideMs],
    ['minTtl', policy.minTtlMs],
    ['maxTtl', policy.maxTtlMs],
    ['staleWhileRevalidate', policy.staleWhileRevalidateMs],
    ['staleIfError', policy.staleIfErrorMs],
  ]
  for (const [name, ms] of durations) if (ms !== undefined) parts.push(`${name} ${formatDuration(ms)}`)
  if (policy.ignoreSetCookie) parts.push('ignoreSetCookie')
  const { key } = policy
  if (key.ignoreQuery.length > 0) parts.push(`query ignore [${key.ignoreQuery.join(', ')}]`)
  if (key.keepQuery.length > 0) parts.push(`query keep [${key.keepQuery.join(', ')}]`)
  if (key.sortQuery) parts.push('query sort')
  if (key.headers.length > 0) parts.push(`key headers [${key.headers.join(', ')}]`)
  if (key.cookies.length > 0) parts.push(`key cookies [${key.cookies.join(', ')}]`)
  return parts.length === 0 ? '(none: the response decides)' : parts.join(', ')
}

/** Prints a load error's problems (under `file` when they are a route file's) and returns 1. */
function fail(error: unknown, err: Output, file?: string): number {
  const problems = (error as { problems?: readonly string[] }).problems
  const where = file === undefined ? '' : `${file}: `
  if (problems !== undefined)
    for (const problem of problems) err.write(`edgecache routes test: ${where}${problem}\n`)
  else err.write(`edgecache routes test: ${error instanceof Error ? error.message : String(error)}\n`)
  return 1
}
