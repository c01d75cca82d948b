/**
 * The leaf schemas config fields are built from: sizes, durations, HOST:PORT, URLs,
 * tokens, IP ranges. Each checks a raw value from a file, env or a flag, says what it
 * expected when the value is wrong, and records its doc line in `fieldMeta`. No I/O.
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import { parseDuration, parseSize } from './units.ts'

/** How a field is written in config sources; env and flag values are coerced by kind. */
export type FieldKind =
  | 'size'
  | 'duration'
  | 'listen'
  | 'url'
  | 'host'
  | 'integer'
  | 'number'
  | 'text'
  | 'boolean'
  | 'path'
  | 'list'

/** What the docs and the env mapping know about a leaf field. */
export interface FieldMeta {
  readonly kind: FieldKind
  /** One line on what the field does. */
  readonly doc: string
  /** The field's type as the docs show it, e.g. `duration` or `integer >= 1`. */
  readonly type: string
  /** The default as a config file spells it; absent when optional or computed. */
  readonly defaultText?: string
  /** Words for a default computed at load time, such as `number of CPUs`. */
  readonly computedDefault?: string
  /** A secret: its value is never repeated in a message, and the docs say so. */
  readonly secret?: boolean
}

/** Doc line, kind and default of every leaf field, keyed by the field's outermost schema. */
export const fieldMeta = z.registry<FieldMeta>()

/** A checked value, or the words for what was expected instead. */
type Checked<T> = { readonly value: T } | { readonly expected: string }

/** Renders an offending value for a message: strings quoted, everything else as JSON. */
export function show(input: unknown): string {
  if (input === undefined) return 'nothing'
  if (typeof input === 'number') return String(input)
  const text = JSON.stringify(input) ?? String(input)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

function leaf<T>(check: (input: unknown) => Checked<T>, display: (input: unknown) => string = show) {
  return z.unknown().transform((input, ctx): T => {
    const result = check(input)
    if ('value' in result) return result.value
    ctx.addIssue({ code: 'custom', message: `expected ${result.expected}, got ${display(input)}`, input })
    return z.NEVER
  })
}

function withDefault<T>(check: (input: unknown) => Checked<T>, meta: FieldMeta, value: unknown) {
  return leaf(check).prefault(value).register(fieldMeta, meta)
}

function withoutDefault<T>(check: (input: unknown) => Checked<T>, meta: FieldMeta) {
  return leaf(check).optional().register(fieldMeta, meta)
}

/** A boolean field: `true` or `false` (in env and flags, the words `true` and `false`). */
export function boolean(doc: string, defaultValue: boolean) {
  const check = (input: unknown): Checked<boolean> =>
    typeof input === 'boolean' ? { value: input } : { expected: 'true or false' }
  return withDefault(
    check,
    { kind: 'boolean', doc, type: 'boolean', defaultText: String(defaultValue) },
    defaultValue,
  )
}

/** An optional file path, kept as written; the file is read by load.ts, not here. */
export function filePath(doc: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && input.trim() !== '' && !input.includes('\0')
      ? { value: input }
      : { expected: 'a file path' }
  return withoutDefault(check, { kind: 'path', doc, type: 'path' })
}

/** A directory path with a default, kept as written; created by the part that uses it. */
export function directoryPath(doc: string, defaultText: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && input.trim() !== '' && !input.includes('\0')
      ? { value: input }
      : { expected: 'a directory path' }
  return withDefault(check, { kind: 'path', doc, type: 'path', defaultText }, defaultText)
}

/** A size field: `"256MiB"`, `"64KiB"`, `"1GB"`, `"512"` or a number of bytes. Parses to bytes. */
export function size(doc: string, defaultText: string, min = 0) {
  const check = (input: unknown): Checked<number> => {
    const bytes =
      typeof input === 'number'
        ? wholeOrUndefined(input)
        : typeof input === 'string'
          ? parseSize(input)
          : undefined
    if (bytes === undefined) return { expected: 'a size like "256MiB"' }
    if (bytes < min) return { expected: `a size of at least ${min} ${min === 1 ? 'byte' : 'bytes'}` }
    return { value: bytes }
  }
  return withDefault(check, { kind: 'size', doc, type: 'size', defaultText }, defaultText)
}

/** A duration field: `"500ms"`, `"30s"`, `"10m"`, `"1h"`, `"1d"`, `"0s"`. Parses to milliseconds. */
export function duration(
  doc: string,
  defaultText: string,
  min: 'zero' | 'positive' = 'zero',
  max: 'timer' | 'any' = 'timer',
) {
  const check = (input: unknown): Checked<number> => {
    const ms = typeof input === 'string' ? parseDuration(input) : undefined
    if (ms === undefined) return { expected: 'a duration like "30s"' }
    // Durations are whole milliseconds: "0.1ms" is 0 and would not do where 0 is refused.
    if (min === 'positive' && ms < 1) return { expected: 'a duration of at least 1ms' }
    if (max === 'timer' && ms > TIMER_MAX_MS) return { expected: 'a duration of at most 24d' }
    return { value: ms }
  }
  const type = `duration${min === 'positive' ? ' > 0' : ''}${max === 'timer' ? ', at most 24d' : ''}`
  return withDefault(check, { kind: 'duration', doc, type, defaultText }, defaultText)
}

/**
 * The longest duration a field that sets a timer takes: node's timers hold at most
 * 2^31 - 1 ms (24.8 days) and fire at once, with a warning, past it.
 */
const TIMER_MAX_MS = 24 * 24 * 60 * 60 * 1000

/** Where a listener binds. An IPv6 host is written in brackets and stored without them. */
export interface ListenAddress {
  readonly host: string
  readonly port: number
}

const listenPattern = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/

/**
 * A `HOST:PORT` field (`[::1]:8000` for IPv6). Parses to `{ host, port }`; port 0 picks a
 * free one. `8000` or `:8000` keeps the default's host, so `--admin-listen 9092` stays on
 * loopback.
 */
export function listen(doc: string, defaultText: string) {
  const defaultHost = defaultText.slice(0, defaultText.lastIndexOf(':'))
  return withDefault(
    listenCheck(defaultHost),
    { kind: 'listen', doc, type: 'HOST:PORT', defaultText },
    defaultText,
  )
}

/** An optional `HOST:PORT` field: a listener that is off unless given. A port alone binds every address. */
export function optionalListen(doc: string) {
  return withoutDefault(listenCheck('0.0.0.0'), { kind: 'listen', doc, type: 'HOST:PORT' })
}

function listenCheck(defaultHost: string) {
  return (input: unknown): Checked<ListenAddress> => {
    const text =
      typeof input === 'string' && /^:?\d{1,5}$/.test(input)
        ? `${defaultHost}:${input.replace(':', '')}`
        : input
    const match = typeof text === 'string' ? listenPattern.exec(text) : null
    const port = Number(match?.[3])
    const host = match?.[1] ?? match?.[2]
    if (host === undefined || port > 65535 || (match?.[1] !== undefined && isIP(host) !== 6)) {
      return { expected: 'HOST:PORT, :PORT or PORT' }
    }
    return { value: { host, port } }
  }
}

/**
 * An optional origin, `http://host[:port]` or `https://…`, kept as written. edgecache
 * forwards each request's own path, so a path here (nginx's `proxy_pass http://b/base/`)
 * is refused rather than silently dropped; so are credentials, which the message masks.
 */
export function originUrl(doc: string) {
  const check = (input: unknown): Checked<string> => {
    const url = typeof input === 'string' && URL.canParse(input) ? new URL(input) : undefined
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
      return { expected: 'an http:// or https:// URL' }
    }
    if (url.username !== '' || url.password !== '') {
      return { expected: 'a URL without user or password (send credentials from the origin side)' }
    }
    // Nothing listens on port 0: every request would fail to connect.
    if (url.port === '0') return { expected: 'a URL with a port from 1 to 65535' }
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      return {
        expected: 'an origin without a path, query or fragment (edgecache forwards the request path as is)',
      }
    }
    return { value: input as string }
  }
  return leaf(check, showUrl).optional().register(fieldMeta, { kind: 'url', doc, type: 'URL' })
}

const hostHeaderPattern = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::\d{1,5})?$/

/** An optional `host[:port]` value for a Host header; an empty string means not set. */
export function hostHeader(doc: string) {
  const check = (input: unknown): Checked<string | undefined> => {
    if (input === '') return { value: undefined }
    if (typeof input === 'string' && hostHeaderPattern.test(input)) return { value: input }
    return { expected: 'a host name, optionally with :PORT' }
  }
  return withoutDefault(check, { kind: 'host', doc, type: 'host[:port]' })
}

/** An integer field with a lower bound and a fixed default. */
export function integer(doc: string, defaultValue: number, min: number) {
  return withDefault(
    integerCheck(min),
    { kind: 'integer', doc, type: `integer >= ${min}`, defaultText: String(defaultValue) },
    defaultValue,
  )
}

/** An integer field from `min` to `max`, with a fixed default. */
export function integerIn(doc: string, defaultValue: number, min: number, max: number) {
  const check = (input: unknown): Checked<number> =>
    Number.isSafeInteger(input) && (input as number) >= min && (input as number) <= max
      ? { value: input as number }
      : { expected: `an integer from ${min} to ${max}` }
  return withDefault(
    check,
    { kind: 'integer', doc, type: `integer ${min}..${max}`, defaultText: String(defaultValue) },
    defaultValue,
  )
}

/** An integer field whose default is computed when config loads; `computedDefault` says how, for the docs. */
export function computedInteger(
  doc: string,
  defaultValue: () => number,
  min: number,
  computedDefault: string,
) {
  return withDefault(
    integerCheck(min),
    { kind: 'integer', doc, type: `integer >= ${min}`, computedDefault },
    defaultValue,
  )
}

function integerCheck(min: number) {
  return (input: unknown): Checked<number> =>
    Number.isSafeInteger(input) && (input as number) >= min
      ? { value: input as number }
      : { expected: `an integer >= ${min}` }
}

/** A number from 0 to 1. */
export function fraction(doc: string, defaultValue: number) {
  const check = (input: unknown): Checked<number> =>
    typeof input === 'number' && input >= 0 && input <= 1
      ? { value: input }
      : { expected: 'a number from 0 to 1' }
  return withDefault(
    check,
    { kind: 'number', doc, type: 'number 0..1', defaultText: String(defaultValue) },
    defaultValue,
  )
}

/** RFC 9110 §5.6.2 token characters. */
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A token (RFC 9110 §5.6.2), as in a Cache-Status cache name. */
export function token(doc: string, defaultValue: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && tokenPattern.test(input)
      ? { value: input }
      : { expected: "a token (letters, digits, !#$%&'*+-.^_`|~)" }
  return withDefault(check, { kind: 'text', doc, type: 'token', defaultText: defaultValue }, defaultValue)
}

/** A lowercase field name, as RFC 9213 targeted cache-control fields are written. */
export function fieldName(doc: string, defaultValue: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && tokenPattern.test(input) && input === input.toLowerCase()
      ? { value: input }
      : { expected: 'a lowercase header field name' }
  return withDefault(
    check,
    { kind: 'text', doc, type: 'field name', defaultText: defaultValue },
    defaultValue,
  )
}

/** One of a fixed set of strings. */
export function oneOf<const T extends readonly [string, ...string[]]>(
  doc: string,
  values: T,
  defaultValue: T[number],
) {
  const check = (input: unknown): Checked<T[number]> =>
    values.includes(input as string)
      ? { value: input as T[number] }
      : { expected: `one of ${values.join(', ')}` }
  return withDefault(
    check,
    { kind: 'text', doc, type: values.join(' | '), defaultText: defaultValue },
    defaultValue,
  )
}

/**
 * The discriminator of one option of a union, such as `storage.driver`. It is a literal
 * so zod can pick the option; a wrong value is reported by the union, naming every option.
 * The one option marked `isDefault` is chosen when the discriminator is left out.
 */
export function discriminator<const T extends string>(doc: string, value: T, isDefault = false) {
  const meta: FieldMeta = isDefault
    ? { kind: 'text', doc, type: value, defaultText: value }
    : { kind: 'text', doc, type: value }
  const schema = isDefault ? z.literal(value).prefault(value) : z.literal(value)
  // Registered through the base type: with T still generic, register()'s meta type cannot resolve.
  fieldMeta.add(schema as z.ZodType, meta)
  return schema
}

/** Renders a URL for a message with any password in it replaced by `***`. */
export function showUrl(input: unknown): string {
  if (typeof input !== 'string' || !URL.canParse(input)) return show(input)
  const url = new URL(input)
  if (url.password === '') return show(input)
  url.password = '***'
  return show(url.href)
}

function redisUrlCheck(input: unknown): Checked<string> {
  const url = typeof input === 'string' && URL.canParse(input) ? new URL(input) : undefined
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.host === '') {
    return { expected: 'redis:// or rediss:// URL' }
  }
  return { value: input as string }
}

/** An optional `redis://` or `rediss://` (TLS) URL, kept as written; a password in it is never shown. */
export function redisUrl(doc: string) {
  return leaf(redisUrlCheck, showUrl).optional().register(fieldMeta, { kind: 'url', doc, type: 'Redis URL' })
}

/** A list of `redis://` or `rediss://` URLs; comma-separated in env, empty by default. */
export function redisUrlList(doc: string) {
  const meta: FieldMeta = { kind: 'list', doc, type: 'list of Redis URLs', defaultText: '[]' }
  return list(redisUrlCheck, meta, [], showUrl)
}

/** An optional name without spaces or control characters, such as a Sentinel master name. */
export function name(doc: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && /^[!-~]{1,256}$/.test(input)
      ? { value: input }
      : { expected: 'a name of printable characters without spaces' }
  return withoutDefault(check, { kind: 'text', doc, type: 'text' })
}

const keyPrefixPattern = /^[!-z|~]{0,64}$/

/**
 * A key prefix: up to 64 printable ASCII characters, no spaces and no `{` or `}` (those
 * would make a Redis Cluster hash tag). May be empty.
 */
export function keyPrefix(doc: string, defaultValue: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && keyPrefixPattern.test(input)
      ? { value: input }
      : { expected: 'up to 64 printable characters without spaces, { or }' }
  return withDefault(check, { kind: 'text', doc, type: 'text', defaultText: defaultValue }, defaultValue)
}

/**
 * An optional secret string, such as a password. A bad value is reported by its kind,
 * never by its text; the docs mark the field secret.
 */
export function secretText(doc: string) {
  const schema = z.unknown().transform((input, ctx): string => {
    if (typeof input === 'string' && input !== '') return input
    // No `input` on the issue: it would carry the secret into anything that prints issues.
    ctx.addIssue({
      code: 'custom',
      message: `expected a non-empty string, got ${input === '' ? 'an empty one' : kindOf(input)}`,
    })
    return z.NEVER
  })
  return schema.optional().register(fieldMeta, { kind: 'text', doc, type: 'text', secret: true })
}

function list<T>(
  check: (input: unknown) => Checked<T>,
  meta: FieldMeta,
  defaultValue: readonly string[],
  display: (input: unknown) => string = show,
) {
  return z
    .array(leaf(check, display))
    .prefault([...defaultValue])
    .register(fieldMeta, meta)
}

/** True when `text` is an IPv4 or IPv6 address, or a CIDR range of either. */
export function isIpOrCidr(text: string): boolean {
  const slash = text.indexOf('/')
  const address = slash === -1 ? text : text.slice(0, slash)
  const version = isIP(address)
  if (version === 0) return false
  if (slash === -1) return true
  const prefix = text.slice(slash + 1)
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128)
}

/** A list of IP addresses or CIDR ranges, IPv4 or IPv6; comma-separated in env and flags. */
export function ipList(doc: string, defaultValue: readonly string[]) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && isIpOrCidr(input)
      ? { value: input }
      : { expected: 'an IP address or CIDR like "10.0.0.0/8"' }
  const meta: FieldMeta = {
    kind: 'list',
    doc,
    type: 'list of IP or CIDR',
    defaultText: `[${defaultValue.join(', ')}]`,
  }
  return list(check, meta, defaultValue)
}

/** A list of strings, each one of a fixed set; comma-separated in env. */
export function oneOfList<const T extends readonly [string, ...string[]]>(
  doc: string,
  values: T,
  defaultValue: readonly T[number][],
) {
  const check = (input: unknown): Checked<T[number]> =>
    values.includes(input as string)
      ? { value: input as T[number] }
      : { expected: `one of ${values.join(', ')}` }
  const meta: FieldMeta = {
    kind: 'list',
    doc,
    type: `list of ${values.join(' | ')}`,
    defaultText: `[${defaultValue.join(', ')}]`,
  }
  return list(check, meta, defaultValue)
}

/** RFC 9110 §8.3.1: type "/" subtype, both tokens; a subtype of `*` stands for every one. */
const mediaTypePattern = /^[!#$%&'*+.^_`|~0-9a-z-]+\/(?:\*|[!#$%&'*+.^_`|~0-9a-z-]+)$/

/** A list of media types (`text/html`, or `text/*`), stored lowercase; comma-separated in env. */
export function mediaTypeList(doc: string, defaultValue: readonly string[]) {
  const check = (input: unknown): Checked<string> => {
    const type = typeof input === 'string' ? input.trim().toLowerCase() : undefined
    return type !== undefined && mediaTypePattern.test(type) && !type.startsWith('*/')
      ? { value: type }
      : { expected: 'a media type like "text/html" or "text/*"' }
  }
  const meta: FieldMeta = {
    kind: 'list',
    doc,
    type: 'list of media types',
    defaultText: `[${defaultValue.join(', ')}]`,
  }
  return list(check, meta, defaultValue)
}

/** A list of header field names, stored lowercase; comma-separated in env and flags. */
export function headerList(doc: string, defaultValue: readonly string[]) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && tokenPattern.test(input)
      ? { value: input.toLowerCase() }
      : { expected: 'a header field name' }
  const meta: FieldMeta = {
    kind: 'list',
    doc,
    type: 'list of field names',
    defaultText: `[${defaultValue.join(', ')}]`,
  }
  return list(check, meta, defaultValue)
}

/**
 * A list of request methods (RFC 9110 §9.1: tokens, case-sensitive; kept as written, so
 * `get` is not GET), or `*`. Comma-separated in env.
 */
export function methodList(doc: string, defaultValue: readonly string[]) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && (input === '*' || tokenPattern.test(input.toLowerCase()))
      ? { value: input }
      : { expected: 'a method name such as GET, or *' }
  const meta: FieldMeta = {
    kind: 'list',
    doc,
    type: 'list of methods',
    defaultText: `[${defaultValue.join(', ')}]`,
  }
  return list(check, meta, defaultValue)
}

/**
 * Characters of an RFC 6750 §2.1 `b64token`, the form a bearer token takes in an
 * Authorization field: a token outside it could not be sent at all.
 */
const bearerTokenPattern = /^[A-Za-z0-9\-._~+/]+=*$/

/** Shortest bearer token accepted: shorter ones are too easy to guess. */
export const minTokenLength = 16

/**
 * Why `text` cannot be a bearer token, or undefined when it can. The words never
 * include the text itself: it is a secret.
 */
export function bearerTokenProblem(text: string): string | undefined {
  if (text.length < minTokenLength) {
    return `expected at least ${minTokenLength} characters, got ${text.length} (value not shown)`
  }
  if (!bearerTokenPattern.test(text)) {
    return 'expected only the characters A-Z a-z 0-9 - . _ ~ + / and trailing = (value not shown)'
  }
  return undefined
}

/**
 * A list of bearer tokens, secrets: a bad entry is reported by its index and the problem,
 * never by its value. Comma-separated in env.
 */
export function tokenList(doc: string) {
  const entry = z.unknown().transform((input, ctx): string => {
    const problem =
      typeof input === 'string' ? bearerTokenProblem(input) : `expected a string, got ${kindOf(input)}`
    if (problem === undefined) return input as string
    // No `input` on the issue: it would carry the secret into anything that prints issues.
    ctx.addIssue({ code: 'custom', message: problem })
    return z.NEVER
  })
  const meta: FieldMeta = { kind: 'list', doc, type: 'list of tokens', defaultText: '[]', secret: true }
  return z.array(entry).prefault([]).register(fieldMeta, meta)
}

/** What kind of value `input` is, in words that do not repeat it. */
function kindOf(input: unknown): string {
  if (input === null) return 'null'
  if (Array.isArray(input)) return 'a list'
  return typeof input === 'object' ? 'a mapping' : `a ${typeof input}`
}

function wholeOrUndefined(value: number): number | undefined {
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

/** An optional integer with a lower bound, whose absence means another field's value (the docs say which). */
export function optionalInteger(doc: string, min: number) {
  return withoutDefault(integerCheck(min), { kind: 'integer', doc, type: `integer >= ${min}` })
}

/** An optional duration, whose absence means another field's value (the docs say which). */
export function optionalDuration(doc: string) {
  const check = (input: unknown): Checked<number> => {
    const ms = typeof input === 'string' ? parseDuration(input) : undefined
    return ms === undefined ? { expected: 'a duration like "30s"' } : { value: ms }
  }
  return withoutDefault(check, { kind: 'duration', doc, type: 'duration' })
}

/** An optional path such as `/healthz`: starts with `/`, no whitespace or `#`. */
export function requestPath(doc: string) {
  const check = (input: unknown): Checked<string> =>
    typeof input === 'string' && input.startsWith('/') && !/[\s#]/.test(input)
      ? { value: input }
      : { expected: 'a path starting with "/"' }
  return withoutDefault(check, { kind: 'text', doc, type: 'path' })
}

/** A list of HTTP status codes (100..599); comma-separated in env. */
export function statusList(doc: string, defaultValue: readonly number[]) {
  const check = (input: unknown): Checked<number> =>
    Number.isSafeInteger(input) && (input as number) >= 100 && (input as number) <= 599
      ? { value: input as number }
      : { expected: 'a status code from 100 to 599' }
  const meta: FieldMeta = {
    kind: 'list',
    doc,
    type: 'list of status codes',
    defaultText: `[${defaultValue.join(', ')}]`,
  }
  return z
    .array(leaf(check))
    .prefault([...defaultValue])
    .register(fieldMeta, meta)
}

/** A number greater than or equal to 0, with a default. */
export function nonNegativeNumber(doc: string, defaultValue: number) {
  const check = (input: unknown): Checked<number> =>
    typeof input === 'number' && Number.isFinite(input) && input >= 0
      ? { value: input }
      : { expected: 'a number >= 0' }
  return withDefault(
    check,
    { kind: 'number', doc, type: 'number >= 0', defaultText: String(defaultValue) },
    defaultValue,
  )
}
