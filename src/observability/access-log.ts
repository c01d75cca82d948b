/**
 * The access line: one per finished request, written straight into a string and buffered
 * on the LogOutput, without pino. A line per request was a quarter of a hit's cost through
 * pino's generic path (serialise an object, run the redaction paths over it); this line
 * holds only the fields below, none of them a secret: no header field but Referer and
 * User-Agent (combined format), and no query string unless `log.accessQuery`. It keeps
 * the JSON shape pino gave it (`level`, `time`, `pid`, `component`, `msg`), so whatever
 * reads the logs reads it as before.
 */
import type { LogOutput } from './log-output.ts'

/** `json`: the line pino wrote, one object; `combined`: the NCSA combined format of Apache and nginx. */
export type AccessFormat = 'json' | 'combined'

/** What an access line reads of a finished request; a RequestContext has all of it. */
export interface AccessRequest {
  readonly id: string
  readonly method: string
  readonly host: string
  /** Origin-form target: path and query as received. */
  readonly target: string
  /** `1.1`, `1.0`. */
  readonly httpVersion: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly clientAddress: string
  readonly facts: {
    readonly route: string
    readonly cache: string | undefined
    readonly upstreamStatus: number | undefined
    readonly upstreamMs: number | undefined
    /** The names (or tags) of the route file's request rules that marked the request. */
    readonly ruleTags: readonly string[]
    /** An Upgrade request's outcome and the bytes its client sent through the tunnel. */
    readonly tunnel?: { readonly outcome: string; readonly bytesIn: number } | undefined
  }
}

export interface AccessLog {
  write(request: AccessRequest, status: number, bytes: number, totalMs: number): void
}

export interface AccessLogOptions {
  readonly format: AccessFormat
  /** Keep the query string of the target (and, in combined lines, of the Referer). */
  readonly withQuery: boolean
  readonly output: Pick<LogOutput, 'buffer'>
  /** @default process.pid */
  readonly pid?: number
  /** Epoch ms. @default Date.now */
  readonly now?: () => number
}

/**
 * @example
 * const access = createAccessLog({ format: 'json', withQuery: false, output })
 * access.write(ctx, 200, 1024, 3)
 */
export function createAccessLog(options: AccessLogOptions): AccessLog {
  const now = options.now ?? Date.now
  const withQuery = options.withQuery
  const output = options.output
  if (options.format === 'combined') {
    const time = combinedClock(now)
    return {
      write(req, status, bytes) {
        const referer = header(req.headers.referer)
        output.buffer(
          `${req.clientAddress === '' ? '-' : escapeCombined(req.clientAddress)} - - [${time()}] "${escapeCombined(req.method)} ` +
            `${escapeCombined(withQuery ? req.target : withoutQuery(req.target))} HTTP/${escapeCombined(req.httpVersion)}" ` +
            `${status} ${bytes === 0 ? '-' : bytes} ` +
            `"${referer === undefined ? '-' : escapeCombined(withQuery ? referer : withoutQuery(referer))}" ` +
            `"${escapeCombined(header(req.headers['user-agent']) ?? '-')}"\n`,
        )
      },
    }
  }
  const time = isoClock(now)
  // What pino wrote before the fields: its level label, time, base (pid) and the child's binding.
  const head = '{"level":"info","time":"'
  const afterTime = `","pid":${options.pid ?? process.pid},"component":"access","reqId":`
  return {
    write(req, status, bytes, totalMs) {
      const facts = req.facts
      // Fields left undefined are left out, as JSON.stringify (and so pino) leaves them out.
      output.buffer(
        `${head}${time()}${afterTime}${jsonString(req.id)},"method":${jsonString(req.method)}` +
          `,"host":${jsonString(req.host)}` +
          `,"path":${jsonString(withQuery ? req.target : withoutQuery(req.target))}` +
          `,"route":${jsonString(facts.route)},"status":${jsonNumber(status)}` +
          (facts.cache === undefined ? '' : `,"cacheStatus":${jsonString(facts.cache)}`) +
          (facts.upstreamStatus === undefined
            ? ''
            : `,"upstreamStatus":${jsonNumber(facts.upstreamStatus)}`) +
          (facts.upstreamMs === undefined ? '' : `,"upstreamMs":${jsonNumber(roundMs(facts.upstreamMs))}`) +
          `,"totalMs":${jsonNumber(roundMs(totalMs))},"bytes":${jsonNumber(bytes)}` +
          `,"client":${jsonString(req.clientAddress)}` +
          (facts.ruleTags.length === 0 ? '' : `,"rules":${jsonStrings(facts.ruleTags)}`) +
          (facts.tunnel === undefined
            ? ''
            : `,"tunnel":${jsonString(facts.tunnel.outcome)},"bytesIn":${jsonNumber(facts.tunnel.bytesIn)}`) +
          ',"msg":"request"}\n',
      )
    },
  }
}

/** Durations to the microsecond: `0.123`, not `0.12299999990127981`. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000
}

// The query string often carries tokens and personal data: left out unless asked for.
function withoutQuery(target: string): string {
  const query = target.indexOf('?')
  return query === -1 ? target : target.slice(0, query)
}

function header(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0]
}

/** Characters a JSON string cannot hold as they are, and lone surrogates (any surrogate, to be checked). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON must escape exactly these
const NEEDS_JSON_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/**
 * `s` as a JSON string, exactly as JSON.stringify writes it. Most values (paths, ids,
 * addresses) need no escape, and a test of one regular expression costs less than
 * JSON.stringify's call; anything else goes to JSON.stringify.
 */
export function jsonString(s: string): string {
  return NEEDS_JSON_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

function jsonStrings(list: readonly string[]): string {
  let out = '['
  for (let i = 0; i < list.length; i++) out += `${i === 0 ? '' : ','}${jsonString(list[i]!)}`
  return `${out}]`
}

/** A number as JSON writes it (JSON has no NaN or Infinity: null, as JSON.stringify does). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? `${n}` : 'null'
}

const NEEDS_COMBINED_ESCAPE = /[^\u0020-\u007e]|["\\]/

/**
 * `s` for a quoted field of a combined line, escaped as nginx escapes it: `"`, `\`, control
 * characters and bytes past ASCII as `\xHH`, so a line stays one line and its quotes stay
 * its own. node:http gives header values and targets one character per byte received; a
 * character past 0xFF (a route name, say) is written as its UTF-8 bytes.
 */
export function escapeCombined(s: string): string {
  if (!NEEDS_COMBINED_ESCAPE.test(s)) return s
  let out = ''
  for (const char of s) {
    const code = char.codePointAt(0)!
    if (code >= 0x20 && code <= 0x7e && char !== '"' && char !== '\\') out += char
    else if (code <= 0xff) out += hexByte(code)
    else for (const byte of Buffer.from(char)) out += hexByte(byte)
  }
  return out
}

function hexByte(byte: number): string {
  return `\\x${byte < 16 ? '0' : ''}${byte.toString(16).toUpperCase()}`
}

/**
 * `2026-12-03T22:11:56.813Z` for now, as `new Date().toISOString()` writes it, with the
 * part up to the second made once a second rather than once a line.
 */
export function isoClock(now: () => number): () => string {
  let second = Number.NaN
  let prefix = ''
  return () => {
    const ms = Math.floor(now())
    const s = Math.floor(ms / 1000)
    if (s !== second) {
      second = s
      const iso = new Date(s * 1000).toISOString()
      prefix = iso.slice(0, iso.length - 4)
    }
    const fraction = ms - s * 1000
    return `${prefix}${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}Z`
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** `03/Dec/2026:22:11:56 +0000`, the combined format's time (in UTC), made once a second. */
export function combinedClock(now: () => number): () => string {
  let second = Number.NaN
  let text = ''
  return () => {
    const s = Math.floor(now() / 1000)
    if (s !== second) {
      second = s
      const d = new Date(s * 1000)
      const two = (n: number) => (n < 10 ? `0${n}` : `${n}`)
      text =
        `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
        `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
    }
    return text
  }
}
