/**
 * The route file's shape and rules: turns what a YAML or JSON route file holds into a
 * validated, normalised `RouteFile`, or lists every problem, each naming the route and the
 * field (`routes[2] (assets).match.pathRegex: ...`). No I/O: load.ts reads the file, and
 * compile.ts builds the matcher from the result.
 */
import { z } from 'zod'
import { show } from '../config/fields.ts'
import { formatDuration, parseDuration } from '../config/units.ts'
import { ProblemsError } from '../errors.ts'
import { parsePathTemplate } from './path-pattern.ts'
import { checkPathRegex } from './regex-safety.ts'
import { checkRateLimit, type RateLimitSpec } from './route-limits.ts'
import { checkRules, type Rule } from './rules.ts'
import { type CachePolicy, defaultPolicy, type KeyPolicy } from './route.ts'
import { parseTagTemplate } from './tag-template.ts'

/** Which paths a route matches: every path, a template, a literal prefix or a regex. */
export type PathSpec =
  | { readonly kind: 'any' }
  | { readonly kind: 'template'; readonly template: string }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | {
      readonly kind: 'regex'
      readonly source: string
      /** Named capture groups, which become path parameters. */
      readonly params: readonly string[]
      /** Literal text after a leading `^`, or `''`. */
      readonly literalPrefix: string
    }

/** A route's match conditions; a field left out matches everything. */
export interface MatchSpec {
  /** Lowercase host without port, or `*.suffix`; undefined matches every host. */
  readonly host: string | undefined
  /** Upper-case methods; undefined matches every method. */
  readonly methods: readonly string[] | undefined
  readonly path: PathSpec
}

/** One validated route, in file order. */
export interface RouteSpec {
  readonly name: string
  readonly match: MatchSpec
  readonly policy: CachePolicy
  /** Tag templates as written; each `{param}` names a parameter of the path. */
  readonly tags: readonly string[]
  readonly upstream: string | undefined
  /** Token buckets for the route's requests; undefined: not limited. */
  readonly rateLimit: RateLimitSpec | undefined
  /** Request rules of its own, run after the top-level ones. */
  readonly rules: readonly Rule[]
  /** Answer 403 unless the client showed a verified TLS certificate (mTLS). */
  readonly requireClientCert: boolean
}

/** The route that answers when no other matches: no match conditions, no parameters. */
export interface DefaultRouteSpec {
  readonly name: string
  readonly policy: CachePolicy
  readonly tags: readonly string[]
  /** The pool for requests no route matches; undefined: the default pool. */
  readonly upstream: string | undefined
}

/** A validated route file, ready for `compileRoutes`. */
export interface RouteFile {
  /** Request rules run before routing. */
  readonly rules: readonly Rule[]
  readonly routes: readonly RouteSpec[]
  readonly default: DefaultRouteSpec
}

/** A checked value, or the words for what was expected instead. */
type Checked<T> = { readonly value: T } | { readonly problem: string }

function leaf<T>(check: (input: unknown) => Checked<T>) {
  return z.unknown().transform((input, ctx): T => {
    const result = check(input)
    if ('value' in result) return result.value
    ctx.addIssue({ code: 'custom', message: result.problem, input })
    return z.NEVER
  })
}

function expected(what: string, input: unknown): { problem: string } {
  return { problem: `expected ${what}, got ${show(input)}` }
}

const routeNamePattern = /^[A-Za-z0-9_.-]+$/
/** RFC 9110 §5.6.2 token characters: methods, header field names, upstream names. */
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const hostLabels = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/
const ipv6Literal = /^\[[0-9a-f:.]+\]$/
/** Query parameter names and globs: anything but the query's own separators and whitespace. */
const queryNamePattern = /^[^&=#\s]+$/

const routeName = leaf((input) =>
  typeof input === 'string' && routeNamePattern.test(input) && input.length <= 100
    ? { value: input }
    : expected('a name of letters, digits, "_", "." and "-" (at most 100)', input),
)

const duration = leaf((input) => {
  const ms = typeof input === 'string' ? parseDuration(input) : undefined
  return ms === undefined ? expected('a duration like "10m"', input) : { value: ms }
})

const flag = leaf((input) =>
  typeof input === 'boolean' ? { value: input } : expected('true or false', input),
)

const host = leaf((input) => {
  if (typeof input !== 'string') return expected('a host name', input)
  const lower = input.toLowerCase()
  const name = lower.startsWith('*.') ? lower.slice(2) : lower
  if (ipv6Literal.test(name) && !lower.startsWith('*.')) return { value: lower }
  if (/:\d*$/.test(name))
    return { problem: `a port is not matched; write the host alone, got ${show(input)}` }
  if (!hostLabels.test(name)) return expected('a host name, or *.suffix for its subdomains', input)
  return { value: lower }
})

const method = leaf((input) =>
  typeof input === 'string' && tokenPattern.test(input)
    ? { value: input.toUpperCase() }
    : expected('a method such as GET', input),
)

const token = (what: string) =>
  leaf((input) =>
    typeof input === 'string' && tokenPattern.test(input) ? { value: input } : expected(what, input),
  )

const headerName = leaf((input) =>
  typeof input === 'string' && tokenPattern.test(input)
    ? { value: input.toLowerCase() }
    : expected('a header field name', input),
)

const queryName = leaf((input) =>
  typeof input === 'string' && queryNamePattern.test(input)
    ? { value: input }
    : expected('a query parameter name, "*" matching any run of characters', input),
)

const text = (what: string) =>
  leaf((input) => (typeof input === 'string' ? { value: input } : expected(what, input)))

const matchSchema = z.strictObject({
  host: host.optional(),
  methods: z.array(method).optional(),
  path: text('a path template such as /p/:id').optional(),
  pathPrefix: text('a path prefix such as /api/').optional(),
  pathRegex: text('a regular expression').optional(),
})

const cacheSchema = z.strictObject({
  bypass: flag.optional(),
  ttl: duration.optional(),
  ttlOverride: duration.optional(),
  minTtl: duration.optional(),
  maxTtl: duration.optional(),
  staleWhileRevalidate: duration.optional(),
  staleIfError: duration.optional(),
  staleIfDisconnected: duration.optional(),
  ignoreSetCookie: flag.optional(),
  requestDirectives: z.enum(['honour', 'ignore']).optional(),
  rangeRequests: z.enum(['whole', 'parts']).optional(),
  query: z
    .strictObject({
      ignore: z.array(queryName).optional(),
      keep: z.array(queryName).optional(),
      sort: flag.optional(),
    })
    .optional(),
  key: z
    .strictObject({
      headers: z.array(headerName).optional(),
      cookies: z.array(token('a cookie name')).optional(),
    })
    .optional(),
})

const tagList = z.array(text('a tag'))

/** A route's own keys; match, cache and tags are parsed apart so a problem in one leaves the others checked. */
const routeSchema = z.strictObject({
  name: routeName,
  match: z.unknown().optional(),
  cache: z.unknown().optional(),
  tags: z.unknown().optional(),
  upstream: token('an upstream name').optional(),
  rateLimit: z.unknown().optional(),
  rules: z.unknown().optional(),
  requireClientCert: z.boolean().optional(),
})

const defaultSchema = z.strictObject({
  name: routeName.optional(),
  cache: z.unknown().optional(),
  tags: z.unknown().optional(),
  upstream: token('an upstream name').optional(),
})

const topKeys = new Set(['rules', 'routes', 'default'])

/**
 * Validates a parsed route file (what YAML or JSON gave) and normalises it: durations to
 * ms, hosts to lowercase, methods to uppercase, header names to lowercase.
 *
 * @returns the route file, or every problem found, each as `where: what`.
 */
export function validateRouteFile(
  content: unknown,
  file?: string,
): { readonly ok: true; readonly file: RouteFile } | { readonly ok: false; readonly problems: string[] } {
  const problems: string[] = []
  // An empty file is most often one caught half-written by a live reload: taken as "no
  // routes", it would drop every bypass and policy at once. A file without routes says so.
  if (content === null || content === undefined) {
    return { ok: false, problems: ['(route file): empty; a file with no routes says `routes: []`'] }
  }
  const top = content
  if (!isTree(top)) {
    return {
      ok: false,
      problems: [`(route file): expected a mapping with routes and default, got ${show(top)}`],
    }
  }
  for (const key of Object.keys(top)) {
    if (!topKeys.has(key)) problems.push(`${key}: unknown field (a route file has rules, routes and default)`)
  }
  // Absent: none. Present, it is a list (`routes:` alone, YAML's null, is not one).
  const list = 'routes' in top ? top.routes : []
  if (!Array.isArray(list)) problems.push(`routes: expected a list of routes, got ${show(list)}`)
  const routes: RouteSpec[] = []
  const names = new Map<string, string>()
  for (const [index, raw] of (Array.isArray(list) ? list : []).entries()) {
    const rawName = isTree(raw) && typeof raw.name === 'string' ? raw.name : undefined
    const where = rawName === undefined ? `routes[${index}]` : `routes[${index}] (${rawName})`
    const { name, route } = checkRoute(raw, where, file, problems)
    if (name !== undefined) {
      const earlier = names.get(name)
      if (earlier !== undefined) problems.push(`${where}.name: "${name}" is already the name of ${earlier}`)
      else names.set(name, `routes[${index}]`)
    }
    if (route !== undefined) routes.push(route)
  }
  const fallback = checkDefault(top.default, names, problems)
  const rules = checkRules(top.rules, 'rules', file, problems)
  if (problems.length > 0 || fallback === undefined) return { ok: false, problems }
  // Frozen like Config: policies are shared by every request, and routeCacheKey caches by KeyPolicy.
  return { ok: true, file: deepFreeze({ rules, routes, default: fallback }) }
}

/** Parses `value` with `schema`, adding each issue to `problems` under `where`; undefined when invalid. */
function parsePart<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: string,
  problems: string[],
): z.output<T> | undefined {
  const result = schema.safeParse(value, { reportInput: true })
  if (result.success) return result.data
  for (const issue of result.error.issues) problems.push(...describeIssue(where, issue))
  return undefined
}

/**
 * Like `validateRouteFile`, but throws.
 *
 * @throws ProblemsError `EC_ERR_ROUTES_INVALID` listing every problem.
 * @example parseRouteFile({ routes: [{ name: 'api', match: { pathPrefix: '/api/' } }] })
 */
export function parseRouteFile(content: unknown, file?: string): RouteFile {
  const result = validateRouteFile(content, file)
  if (!result.ok) throw new ProblemsError('EC_ERR_ROUTES_INVALID', result.problems)
  return result.file
}

/**
 * Checks one route. Its match, cache and tags are checked even when another part is
 * invalid. Returns its name when that is valid, so duplicates are found among invalid
 * routes too, and the route when all of it is valid.
 */
function checkRoute(
  raw: unknown,
  where: string,
  file: string | undefined,
  problems: string[],
): { readonly name?: string; readonly route?: RouteSpec } {
  const before = problems.length
  const input = parsePart(routeSchema, raw, where, problems)
  if (input === undefined) return {}
  let match: z.output<typeof matchSchema> | undefined
  if (input.match === undefined) {
    problems.push(`${where}.match: required; write match: {} to match every request`)
  } else {
    match = parsePart(matchSchema, input.match, `${where}.match`, problems)
  }
  const path = match === undefined ? undefined : checkPath(match, where, problems)
  if (match?.methods?.length === 0) {
    problems.push(
      `${where}.match.methods: must list at least one method (leave it out to match every method)`,
    )
  }
  const policy = checkCache(input.cache, `${where}.cache`, problems)
  const tags = parsePart(tagList, input.tags ?? [], `${where}.tags`, problems) ?? []
  checkTags(tags, path === undefined ? undefined : paramsOf(path), `${where}.tags`, problems, (names) =>
    names.length === 0 ? 'path has none' : `path has: ${names.join(', ')}`,
  )
  const rateLimit =
    input.rateLimit === undefined
      ? undefined
      : checkRateLimit(
          input.rateLimit,
          `${where}.rateLimit`,
          path === undefined ? undefined : paramsOf(path),
          problems,
        )
  const rules = checkRules(input.rules, `${where}.rules`, file, problems)
  if (match === undefined || path === undefined || problems.length > before) return { name: input.name }
  const route: RouteSpec = {
    name: input.name,
    match: { host: match.host, methods: match.methods, path },
    policy,
    tags,
    upstream: input.upstream,
    rateLimit,
    rules,
    requireClientCert: input.requireClientCert ?? false,
  }
  return { name: input.name, route }
}

function checkPath(
  match: z.output<typeof matchSchema>,
  where: string,
  problems: string[],
): PathSpec | undefined {
  const given = (['path', 'pathPrefix', 'pathRegex'] as const).filter((key) => match[key] !== undefined)
  if (given.length > 1) {
    problems.push(`${where}.match: set one of path, pathPrefix and pathRegex, not ${given.join(' and ')}`)
    return undefined
  }
  if (match.path !== undefined) {
    const template = parsePathTemplate(match.path)
    if ('problem' in template) {
      problems.push(`${where}.match.path: ${template.problem}`)
      return undefined
    }
    return { kind: 'template', template: match.path }
  }
  if (match.pathPrefix !== undefined) {
    if (!match.pathPrefix.startsWith('/') || /[\s?#]/.test(match.pathPrefix)) {
      problems.push(
        `${where}.match.pathPrefix: expected a path prefix starting with "/" (no whitespace, "?" or "#"), got ${show(match.pathPrefix)}`,
      )
      return undefined
    }
    return { kind: 'prefix', prefix: match.pathPrefix }
  }
  if (match.pathRegex !== undefined) {
    const checked = checkPathRegex(match.pathRegex)
    if ('problem' in checked) {
      problems.push(`${where}.match.pathRegex: ${checked.problem}`)
      return undefined
    }
    return {
      kind: 'regex',
      source: match.pathRegex,
      params: checked.groupNames,
      literalPrefix: checked.literalPrefix,
    }
  }
  return { kind: 'any' }
}

function paramsOf(path: PathSpec): readonly string[] {
  if (path.kind === 'regex') return path.params
  if (path.kind !== 'template') return []
  const template = parsePathTemplate(path.template)
  return 'problem' in template ? [] : template.params
}

/** Checks tag templates; with `params` undefined (the path was invalid) only their syntax. */
function checkTags(
  tags: readonly string[],
  params: readonly string[] | undefined,
  where: string,
  problems: string[],
  describeParams: (params: readonly string[]) => string,
): void {
  for (const [index, tag] of tags.entries()) {
    const template = parseTagTemplate(tag)
    if ('problem' in template) {
      problems.push(`${where}[${index}]: ${template.problem}`)
      continue
    }
    if (params === undefined) continue
    for (const name of template.params) {
      if (!params.includes(name)) {
        problems.push(`${where}[${index}]: unknown parameter "${name}" (${describeParams(params)})`)
      }
    }
  }
}

function checkCache(raw: unknown, where: string, problems: string[]): CachePolicy {
  if (raw === undefined) return defaultPolicy
  const input = parsePart(cacheSchema, raw, where, problems)
  if (input === undefined) return defaultPolicy
  const { bypass = false, query, key: keyInput, ...rest } = input
  if (bypass) {
    const others = Object.keys(input).filter((name) => name !== 'bypass')
    if (others.length > 0) {
      problems.push(
        `${where}.bypass: a bypassed route is never cached, so ${others.join(', ')} would have no effect; remove ${others.length === 1 ? 'it' : 'them'}`,
      )
    }
  }
  if (rest.ttl !== undefined && rest.ttlOverride !== undefined) {
    problems.push(
      `${where}.ttlOverride: set ttl (used when the response gives no freshness) or ttlOverride (replaces it), not both`,
    )
  }
  if (rest.minTtl !== undefined && rest.maxTtl !== undefined && rest.minTtl > rest.maxTtl) {
    problems.push(
      `${where}.minTtl: must not exceed maxTtl (${formatDuration(rest.maxTtl)}), got ${formatDuration(rest.minTtl)}`,
    )
  }
  const key: KeyPolicy = {
    ignoreQuery: query?.ignore ?? [],
    keepQuery: query?.keep ?? [],
    sortQuery: query?.sort ?? false,
    headers: keyInput?.headers ?? [],
    cookies: keyInput?.cookies ?? [],
  }
  const policy: CachePolicy = {
    bypass,
    ignoreSetCookie: rest.ignoreSetCookie ?? false,
    key,
    ...(rest.requestDirectives === undefined ? {} : { requestDirectives: rest.requestDirectives }),
    ...(rest.rangeRequests === undefined ? {} : { rangeRequests: rest.rangeRequests }),
    ...(rest.ttl === undefined ? {} : { ttlMs: rest.ttl }),
    ...(rest.ttlOverride === undefined ? {} : { ttlOverrideMs: rest.ttlOverride }),
    ...(rest.minTtl === undefined ? {} : { minTtlMs: rest.minTtl }),
    ...(rest.maxTtl === undefined ? {} : { maxTtlMs: rest.maxTtl }),
    ...(rest.staleWhileRevalidate === undefined ? {} : { staleWhileRevalidateMs: rest.staleWhileRevalidate }),
    ...(rest.staleIfError === undefined ? {} : { staleIfErrorMs: rest.staleIfError }),
    ...(rest.staleIfDisconnected === undefined ? {} : { staleIfDisconnectedMs: rest.staleIfDisconnected }),
  }
  return policy
}

function checkDefault(
  raw: unknown,
  names: ReadonlyMap<string, string>,
  problems: string[],
): DefaultRouteSpec | undefined {
  const before = problems.length
  const input = parsePart(defaultSchema, raw ?? {}, 'default', problems)
  if (input === undefined) return undefined
  const name = input.name ?? 'default'
  const earlier = names.get(name)
  if (earlier !== undefined) {
    problems.push(
      `default.name: "${name}" is already the name of ${earlier}; the default route needs its own name`,
    )
  }
  const policy = checkCache(input.cache, 'default.cache', problems)
  const tags = parsePart(tagList, input.tags ?? [], 'default.tags', problems) ?? []
  checkTags(tags, [], 'default.tags', problems, () => 'the default route has no parameters')
  return problems.length > before ? undefined : { name, policy, tags, upstream: input.upstream }
}

/** Renders one zod issue as `where.path: problem` lines. */
function describeIssue(where: string, issue: z.core.$ZodIssue): string[] {
  const at = (path: readonly PropertyKey[]): string => {
    const rest = formatPath(path)
    if (where === '') return rest === '' ? '(route file)' : rest.replace(/^\./, '')
    return `${where}${rest}`
  }
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${at([...issue.path, key])}: unknown field`)
    case 'invalid_type':
      return issue.input === undefined
        ? [`${at(issue.path)}: required, expected ${words(issue.expected)}`]
        : [`${at(issue.path)}: expected ${words(issue.expected)}, got ${show(issue.input)}`]
    default:
      return [`${at(issue.path)}: ${issue.message}`]
  }
}

function words(expected: string): string {
  return expected === 'object' ? 'a mapping' : expected === 'array' ? 'a list' : expected
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = ''
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `.${String(key)}`
  return text
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

function isTree(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
