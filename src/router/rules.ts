/**
 * Request rules (the WAF hook) as the route file writes them, checked and compiled: each
 * matches on method, path, query, header fields, client address (CIDR lists) and body size,
 * and optionally a check function from a JavaScript or TypeScript module, and has an action:
 * deny (with a status), allow (stop looking at rules), log or tag. The route file's top-level
 * `rules:` run before routing, a route's own `rules:` after; both before the cache. Problems
 * name the rule and the field, as the rest of the route file does.
 *
 * A check module is loaded with `require()` when the route file loads (Node 24 loads ES
 * modules and, stripping types, TypeScript that way), so a reload picks up a changed list of
 * modules but a module already loaded keeps its code until restart, as Node caches it.
 */
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { type AddressList, createAddressList } from '../address-list.ts'
import { isIpOrCidr, show } from '../config/fields.ts'
import { parseSize } from '../config/units.ts'
import { checkPathRegex } from './regex-safety.ts'

/** What a check function is given: the request, read-only. */
export interface RuleRequest {
  readonly method: string
  /** Path without the query. */
  readonly path: string
  /** The query string without `?`, or `''`. */
  readonly query: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The client's address, through trusted proxies. */
  readonly client: string
}

/** A check module's export: true when the rule matches. */
export type RuleCheck = (request: RuleRequest) => boolean | Promise<boolean>

export type RuleAction = 'deny' | 'allow' | 'log' | 'tag'

export interface Rule {
  readonly name: string
  readonly action: RuleAction
  /** For deny: the status answered. */
  readonly status: number
  /** For tag: the tag added to the request's log line. */
  readonly tag: string | undefined
  /** Every condition but the check function. */
  matches(request: RuleRequest): boolean
  readonly check: RuleCheck | undefined
}

const actions = new Set<RuleAction>(['deny', 'allow', 'log', 'tag'])
const ruleFields = new Set(['name', 'match', 'action', 'status', 'tag', 'check'])
const matchFields = new Set([
  'methods',
  'pathPrefix',
  'pathRegex',
  'query',
  'headers',
  'client',
  'bodyLarger',
])
const namePattern = /^[A-Za-z0-9_.-]{1,100}$/
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Checks and compiles a list of rules; `file` is the route file's path, against which a
 * check module's path is resolved (undefined: the working directory).
 *
 * @example const rules = checkRules(content.rules, 'rules', 'routes.yaml', problems)
 */
export function checkRules(
  raw: unknown,
  where: string,
  file: string | undefined,
  problems: string[],
): readonly Rule[] {
  if (raw === undefined) return []
  if (!Array.isArray(raw)) {
    problems.push(`${where}: expected a list of rules, got ${show(raw)}`)
    return []
  }
  const rules: Rule[] = []
  const names = new Set<string>()
  for (const [index, entry] of raw.entries()) {
    const named = isTree(entry) && typeof entry.name === 'string' ? ` (${entry.name})` : ''
    const rule = checkRule(entry, `${where}[${index}]${named}`, file, problems)
    if (rule === undefined) continue
    if (names.has(rule.name)) problems.push(`${where}[${index}]${named}.name: "${rule.name}" is used twice`)
    names.add(rule.name)
    rules.push(rule)
  }
  return rules
}

function checkRule(
  raw: unknown,
  where: string,
  file: string | undefined,
  problems: string[],
): Rule | undefined {
  if (!isTree(raw)) {
    problems.push(`${where}: expected a rule such as { name, match, action }, got ${show(raw)}`)
    return undefined
  }
  const before = problems.length
  for (const key of Object.keys(raw))
    if (!ruleFields.has(key)) problems.push(`${where}.${key}: unknown field`)
  const name = raw.name
  if (typeof name !== 'string' || !namePattern.test(name)) {
    problems.push(
      `${where}.name: expected a name of letters, digits, "_", "." and "-" (it is a metric label), got ${show(name)}`,
    )
  }
  const action = raw.action as RuleAction
  if (!actions.has(action))
    problems.push(`${where}.action: expected deny, allow, log or tag, got ${show(raw.action)}`)
  let status = 403
  if (raw.status !== undefined) {
    if (action !== 'deny') problems.push(`${where}.status: is used only with action: deny`)
    else if (
      Number.isSafeInteger(raw.status) &&
      (raw.status as number) >= 400 &&
      (raw.status as number) <= 599
    )
      status = raw.status as number
    else problems.push(`${where}.status: expected a status from 400 to 599, got ${show(raw.status)}`)
  }
  let tag: string | undefined
  if (action === 'tag') {
    if (typeof raw.tag === 'string' && /^[!-~]{1,100}$/.test(raw.tag)) tag = raw.tag
    else
      problems.push(
        `${where}.tag: expected a tag of printable characters without spaces, got ${show(raw.tag)}`,
      )
  } else if (raw.tag !== undefined) problems.push(`${where}.tag: is used only with action: tag`)
  const matches = checkMatch(raw.match ?? {}, `${where}.match`, problems)
  const check = raw.check === undefined ? undefined : loadCheck(raw.check, `${where}.check`, file, problems)
  if (problems.length > before || matches === undefined) return undefined
  return { name: name as string, action, status, tag, matches, check }
}

type Condition = (request: RuleRequest) => boolean

function checkMatch(raw: unknown, where: string, problems: string[]): Condition | undefined {
  if (!isTree(raw)) {
    problems.push(`${where}: expected a mapping of conditions, got ${show(raw)}`)
    return undefined
  }
  const conditions: Condition[] = []
  for (const key of Object.keys(raw))
    if (!matchFields.has(key)) problems.push(`${where}.${key}: unknown field`)
  const { methods, pathPrefix, pathRegex, query, headers, client, bodyLarger } = raw
  if (methods !== undefined) {
    if (
      !Array.isArray(methods) ||
      methods.length === 0 ||
      !methods.every((m) => typeof m === 'string' && tokenPattern.test(m))
    ) {
      problems.push(`${where}.methods: expected a list of methods such as [GET, HEAD], got ${show(methods)}`)
    } else {
      const set = new Set(methods.map((m: string) => m.toUpperCase()))
      conditions.push((r) => set.has(r.method))
    }
  }
  if (pathPrefix !== undefined) {
    if (typeof pathPrefix !== 'string' || !pathPrefix.startsWith('/')) {
      problems.push(`${where}.pathPrefix: expected a path prefix starting with "/", got ${show(pathPrefix)}`)
    } else conditions.push((r) => r.path.startsWith(pathPrefix))
  }
  if (pathRegex !== undefined) {
    const regex = safeRegex(pathRegex, `${where}.pathRegex`, problems)
    if (regex !== undefined) conditions.push((r) => regex.test(r.path))
  }
  if (query !== undefined) {
    if (!isTree(query))
      problems.push(`${where}.query: expected a mapping of parameter → value or true, got ${show(query)}`)
    else {
      for (const [param, want] of Object.entries(query)) {
        if (want !== true && typeof want !== 'string') {
          problems.push(`${where}.query.${param}: expected a value, or true for any value, got ${show(want)}`)
          continue
        }
        conditions.push((r) => {
          const values = new URLSearchParams(r.query).getAll(param)
          return want === true ? values.length > 0 : values.includes(want)
        })
      }
    }
  }
  if (headers !== undefined) {
    if (!isTree(headers))
      problems.push(
        `${where}.headers: expected a mapping of field → regex, true or false, got ${show(headers)}`,
      )
    else {
      for (const [field, want] of Object.entries(headers)) {
        const name = field.toLowerCase()
        if (!tokenPattern.test(field))
          problems.push(`${where}.headers: expected field names, got ${show(field)}`)
        else if (typeof want === 'boolean') conditions.push((r) => (r.headers[name] !== undefined) === want)
        else {
          const regex = safeRegex(want, `${where}.headers.${field}`, problems)
          if (regex === undefined) continue
          conditions.push((r) => {
            const value = r.headers[name]
            return value !== undefined && regex.test(typeof value === 'string' ? value : value.join(', '))
          })
        }
      }
    }
  }
  if (client !== undefined) {
    let list: AddressList | undefined
    if (!Array.isArray(client))
      problems.push(`${where}.client: expected a list of IPs or CIDRs, got ${show(client)}`)
    else {
      const bad = client.findIndex((entry) => typeof entry !== 'string' || !isIpOrCidr(entry))
      if (bad !== -1)
        problems.push(
          `${where}.client[${bad}]: expected an IP address or CIDR like "10.0.0.0/8", got ${show(client[bad])}`,
        )
      else list = createAddressList(client, () => new Error('checked above'))
    }
    if (list !== undefined) {
      const addresses = list
      conditions.push((r) => addresses.has(r.client))
    }
  }
  if (bodyLarger !== undefined) {
    const bytes =
      typeof bodyLarger === 'string'
        ? parseSize(bodyLarger)
        : Number.isSafeInteger(bodyLarger)
          ? (bodyLarger as number)
          : undefined
    if (bytes === undefined)
      problems.push(`${where}.bodyLarger: expected a size like "1MiB", got ${show(bodyLarger)}`)
    else {
      // The declared length: a chunked body's size is not known before it is read.
      conditions.push((r) => {
        const length = r.headers['content-length']
        return typeof length === 'string' && Number(length) > bytes
      })
    }
  }
  return (request) => conditions.every((condition) => condition(request))
}

function safeRegex(source: unknown, where: string, problems: string[]): RegExp | undefined {
  if (typeof source !== 'string') {
    problems.push(`${where}: expected a regular expression, got ${show(source)}`)
    return undefined
  }
  const checked = checkPathRegex(source)
  if ('problem' in checked) {
    problems.push(`${where}: ${checked.problem}`)
    return undefined
  }
  return new RegExp(source)
}

function loadCheck(
  raw: unknown,
  where: string,
  file: string | undefined,
  problems: string[],
): RuleCheck | undefined {
  if (typeof raw !== 'string' || !/\.(m?js|c?js|m?ts|cts)$/.test(raw)) {
    problems.push(`${where}: expected the path of a .js, .mjs or .ts module, got ${show(raw)}`)
    return undefined
  }
  const path = resolve(file === undefined ? process.cwd() : dirname(file), raw)
  let loaded: { check?: unknown; default?: unknown }
  try {
    loaded = createRequire(import.meta.url)(path) as typeof loaded
  } catch (err) {
    problems.push(`${where}: cannot load ${path}: ${((err as Error).message ?? String(err)).split('\n')[0]}`)
    return undefined
  }
  const check = loaded.check ?? loaded.default
  if (typeof check !== 'function') {
    problems.push(`${where}: ${path} must export a function named check (or a default export)`)
    return undefined
  }
  return check as RuleCheck
}

function isTree(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
