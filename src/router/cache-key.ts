/**
 * A route's cache key: the primary key (src/cache/cache-key.ts) with the route's query
 * rules applied to the target and the selected request headers and cookies appended.
 * Pure, and on the path of every cacheable request, so the common cases do little: no
 * rules returns `primaryKey(...)` itself, and a target without a query is not parsed.
 *
 * The key is `primary` or `primary header:NAME=VALUE cookie:NAME=VALUE`. A space cannot
 * occur in a request target or a host, so the first one marks the suffix; values are
 * percent-encoded (encodeURIComponent), so they hold no space either and two different
 * values never give one key. A header or cookie that is absent is written without `=`
 * (`header:accept-language`), so absent and empty (`header:accept-language=`) differ.
 * Query parameters are compared by name as they appear in the target, not decoded, and
 * kept byte for byte: only their selection and order change.
 */
import { primaryKey } from '../cache/cache-key.ts'
import type { KeyPolicy } from './route.ts'

/** Request header fields, names lowercased, as node:http gives them. */
export type KeyHeaders = Readonly<Record<string, string | string[] | undefined>>

/** Query-name globs compiled for matching: exact names, `prefix*` globs and the rest. */
interface NameMatcher {
  readonly exact: readonly string[]
  readonly prefixes: readonly string[]
  readonly globs: readonly string[]
}

interface CompiledKeyRules {
  readonly queryActive: boolean
  readonly ignore: NameMatcher | undefined
  readonly keep: NameMatcher | undefined
  readonly sort: boolean
  readonly headers: readonly string[]
  readonly cookies: readonly string[]
}

// Compiled once per KeyPolicy object: policies are built (and frozen) when routes load and live as long as they do.
const compiled = new WeakMap<KeyPolicy, CompiledKeyRules>()

function rulesOf(policy: KeyPolicy): CompiledKeyRules {
  let rules = compiled.get(policy)
  if (rules === undefined) {
    const queryActive = policy.ignoreQuery.length > 0 || policy.keepQuery.length > 0 || policy.sortQuery
    rules = {
      queryActive,
      ignore: policy.ignoreQuery.length > 0 ? nameMatcher(policy.ignoreQuery) : undefined,
      keep: policy.keepQuery.length > 0 ? nameMatcher(policy.keepQuery) : undefined,
      sort: policy.sortQuery,
      headers: policy.headers.map((name) => name.toLowerCase()),
      cookies: policy.cookies,
    }
    compiled.set(policy, rules)
  }
  return rules
}

/**
 * The cache key of a request under a route's key rules.
 *
 * - `ignoreQuery` drops parameters whose name matches a glob (`*` is any run of characters);
 *   `keepQuery`, when not empty, drops every parameter whose name matches none of its globs;
 *   `sortQuery` orders the rest by name, keeping repeated names in their order. When rules
 *   apply and no parameter is left, the `?` goes too: `/p?utm_source=x` keys as `/p`.
 * - `headers` and `cookies` append `header:NAME=VALUE` and `cookie:NAME=VALUE`, in the
 *   policy's order. Repeated header fields are joined with `, `; of repeated cookies the
 *   first counts.
 *
 * @param headers the request's header fields, names lowercased.
 * @example
 * routeCacheKey('https', 'shop.example', '/p/1?utm_source=x&b=2&a=1', {}, { ...defaultKeyPolicy, ignoreQuery: ['utm_*'], sortQuery: true })
 * // 'https://shop.example/p/1?a=1&b=2'
 */
export function routeCacheKey(
  scheme: string,
  host: string,
  pathAndQuery: string,
  headers: KeyHeaders,
  policy: KeyPolicy,
): string {
  // The common case, no rules, without even the WeakMap lookup.
  if (
    policy.ignoreQuery.length === 0 &&
    policy.keepQuery.length === 0 &&
    !policy.sortQuery &&
    policy.headers.length === 0 &&
    policy.cookies.length === 0
  ) {
    return primaryKey(scheme, host, pathAndQuery)
  }
  const rules = rulesOf(policy)
  const target = rules.queryActive ? normaliseQuery(pathAndQuery, rules) : pathAndQuery
  let key = primaryKey(scheme, host, target)
  for (const name of rules.headers) {
    const value = headers[name]
    key +=
      value === undefined
        ? ` header:${name}`
        : ` header:${name}=${encodeURIComponent(typeof value === 'string' ? value : value.join(', '))}`
  }
  if (rules.cookies.length > 0) {
    const cookie = headers.cookie
    const text = cookie === undefined ? '' : typeof cookie === 'string' ? cookie : cookie.join('; ')
    for (const name of rules.cookies) {
      const value = cookieValue(text, name)
      key += value === undefined ? ` cookie:${name}` : ` cookie:${name}=${encodeURIComponent(value)}`
    }
  }
  return key
}

/** The cache key of a request, and its URL part (the same unless the route keys on fields). */
export interface RequestKeys {
  readonly key: string
  readonly urlKey: string
}

const NO_HEADERS: KeyHeaders = {}

/**
 * The one key function: lookups, fills, URL purges, RFC 9111 §4.4 invalidation and
 * hashing on the key all go through it (or through `urlKey`, its URL part), so an entry
 * is always found under the key it was stored by. Header and cookie values come after a
 * space (which a request target cannot hold), so the URL part is what comes before it.
 */
export function requestKeys(
  scheme: string,
  host: string,
  pathAndQuery: string,
  headers: KeyHeaders,
  policy: KeyPolicy,
): RequestKeys {
  const key = routeCacheKey(scheme, host, pathAndQuery, headers, policy)
  if (policy.headers.length === 0 && policy.cookies.length === 0) return { key, urlKey: key }
  return { key, urlKey: beforeSpace(key) }
}

/** The URL part of the cache key: what a URL purge, §4.4 and `hash: key` go by. */
export function urlKey(scheme: string, host: string, pathAndQuery: string, policy: KeyPolicy): string {
  const key = routeCacheKey(scheme, host, pathAndQuery, NO_HEADERS, policy)
  return policy.headers.length === 0 && policy.cookies.length === 0 ? key : beforeSpace(key)
}

function beforeSpace(key: string): string {
  const space = key.indexOf(' ')
  return space === -1 ? key : key.slice(0, space)
}

/**
 * Applies the query rules to a target. Works on offsets into `target`, so a parameter is
 * copied only when the query changes, and names are compared in place; every step is
 * linear in the query's length, or n log n for the sort, whatever a client sends.
 */
function normaliseQuery(target: string, rules: CompiledKeyRules): string {
  const mark = target.indexOf('?')
  if (mark === -1) return target
  const { ignore, keep } = rules
  // Kept parameters as offsets into target: start, end of name, end, for each in turn.
  const kept: number[] = []
  let changed = false
  for (let start = mark + 1; start <= target.length; ) {
    let end = target.indexOf('&', start)
    if (end === -1) end = target.length
    let nameEnd = start
    while (nameEnd < end && target.charCodeAt(nameEnd) !== 0x3d /* = */) nameEnd++
    if (
      end === start ||
      (keep !== undefined && !matchesName(keep, target, start, nameEnd)) ||
      (ignore !== undefined && matchesName(ignore, target, start, nameEnd))
    ) {
      changed = true
    } else {
      kept.push(start, nameEnd, end)
    }
    start = end + 1
  }
  const count = kept.length / 3
  // Offsets into `kept` of each parameter, in key order; undefined keeps the query's order.
  let order: number[] | undefined
  if (rules.sort && count > 1) {
    order = sortedOffsets(target, kept, count)
    for (let i = 0; i < count; i++) {
      if (order[i] !== i * 3) {
        changed = true
        break
      }
    }
  }
  if (!changed) return target
  let normalised = target.slice(0, mark)
  for (let i = 0; i < count; i++) {
    const at = order === undefined ? i * 3 : order[i]!
    normalised += `${i === 0 ? '?' : '&'}${target.slice(kept[at]!, kept[at + 2]!)}`
  }
  return normalised
}

/**
 * The offsets into `kept` (start, name end, end triples) in order of name. Stable, so
 * repeated names keep their order: insertion sort for the few parameters a URL usually
 * has, Array.prototype.sort (n log n) for however many a client sends.
 */
function sortedOffsets(target: string, kept: readonly number[], count: number): number[] {
  const order: number[] = []
  for (let i = 0; i < count; i++) order.push(i * 3)
  if (count > 16) {
    return order.sort((a, b) => compareRanges(target, kept[a]!, kept[a + 1]!, kept[b]!, kept[b + 1]!))
  }
  for (let i = 1; i < count; i++) {
    const at = order[i]!
    let j = i
    while (j > 0) {
      const previous = order[j - 1]!
      if (compareRanges(target, kept[previous]!, kept[previous + 1]!, kept[at]!, kept[at + 1]!) <= 0) break
      order[j] = previous
      j--
    }
    order[j] = at
  }
  return order
}

/** Compares `text[aStart, aEnd)` with `text[bStart, bEnd)` by UTF-16 code units, as `<` on strings does. */
function compareRanges(text: string, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const length = Math.min(aEnd - aStart, bEnd - bStart)
  for (let i = 0; i < length; i++) {
    const difference = text.charCodeAt(aStart + i) - text.charCodeAt(bStart + i)
    if (difference !== 0) return difference
  }
  return aEnd - aStart - (bEnd - bStart)
}

function nameMatcher(patterns: readonly string[]): NameMatcher {
  const exact: string[] = []
  const prefixes: string[] = []
  const globs: string[] = []
  for (const pattern of patterns) {
    const star = pattern.indexOf('*')
    if (star === -1) exact.push(pattern)
    else if (star === pattern.length - 1) prefixes.push(pattern.slice(0, -1))
    else globs.push(pattern)
  }
  return { exact, prefixes, globs }
}

/** Whether the name at `text[start, end)` matches one of the matcher's patterns. */
function matchesName(matcher: NameMatcher, text: string, start: number, end: number): boolean {
  const length = end - start
  for (const name of matcher.exact) if (name.length === length && text.startsWith(name, start)) return true
  for (const prefix of matcher.prefixes)
    if (prefix.length <= length && text.startsWith(prefix, start)) return true
  if (matcher.globs.length === 0) return false
  const name = text.slice(start, end)
  for (const glob of matcher.globs) if (globMatch(glob, name)) return true
  return false
}

/**
 * `*`-only glob matching without backtracking blow-up: on a mismatch it retries only from
 * the last `*`, so the cost is O(pattern × text) at worst, whatever the client sends.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let starP = -1
  let starT = 0
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starP = p++
      starT = t
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++
      t++
    } else if (starP !== -1) {
      p = starP + 1
      t = ++starT
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

/** The value of the first cookie called `name` in a Cookie header value, or undefined. */
function cookieValue(header: string, name: string): string | undefined {
  for (let at = header.indexOf(name); at !== -1; at = header.indexOf(name, at + 1)) {
    const equals = at + name.length
    if (header.charCodeAt(equals) === 0x3d /* = */ && startsPair(header, at)) {
      let end = header.indexOf(';', equals + 1)
      if (end === -1) end = header.length
      return header.slice(equals + 1, end).trim()
    }
  }
  return undefined
}

/** True when `at` starts a cookie-pair: only spaces since the start or the last `;`. */
function startsPair(header: string, at: number): boolean {
  let i = at - 1
  while (i >= 0 && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i--
  return i < 0 || header.charCodeAt(i) === 0x3b /* ; */
}
