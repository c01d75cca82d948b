/**
 * Content-coding negotiation (RFC 9110 §12.5.3) and the rules for which responses edgecache
 * may compress (RFC 9110 §7.7, §8.4, §8.8.3). Pure: no zlib, no I/O, no clock.
 */

/** The content codings edgecache can produce (and decode). */
export type Coding = 'br' | 'zstd' | 'gzip'

/** What a request is answered with: one of the offered codings, or the body as it is. */
export type Chosen = Coding | 'identity'

export const CODINGS: readonly Coding[] = ['br', 'zstd', 'gzip']

/** A field's value as node:http and undici give it. */
type FieldValue = string | readonly string[] | undefined

/** What an Accept-Encoding value allows: the coding to answer with, and every coding it accepts. */
export interface Acceptance {
  readonly chosen: Chosen
  /** Offered or not: a stored body in one of these may be sent as it is. */
  readonly accepts: ReadonlySet<Coding>
}

const NONE: Acceptance = { chosen: 'identity', accepts: new Set() }

/**
 * RFC 9110 §12.5.3: the coding of `offered` (in the server's order of preference) that
 * `acceptEncoding` weighs highest, ties going to the earlier in `offered`; identity when it
 * accepts none, or is absent (a request without the field gets the body as it is, as
 * CDNs do, rather than any coding the RFC would allow). `x-gzip` is gzip (§8.4.1.3).
 * Identity is sent even where the client refuses it (`identity;q=0`): a 406 helps nobody.
 */
export function negotiate(acceptEncoding: FieldValue, offered: readonly Coding[]): Acceptance {
  if (acceptEncoding === undefined) return NONE
  const text = typeof acceptEncoding === 'string' ? acceptEncoding : acceptEncoding.join(',')
  const weights = new Map<string, number>()
  for (const member of text.split(',')) {
    const [rawName = '', ...params] = member.split(';')
    const name = rawName.trim().toLowerCase()
    if (name === '') continue
    let q = 1
    for (const param of params) {
      const [key = '', value = ''] = param.split('=')
      if (key.trim().toLowerCase() === 'q') q = parseQ(value.trim())
    }
    weights.set(name === 'x-gzip' ? 'gzip' : name, q)
  }
  const star = weights.get('*')
  const weightOf = (coding: Coding) => weights.get(coding) ?? star ?? 0
  const accepts = new Set<Coding>()
  for (const coding of CODINGS) if (weightOf(coding) > 0) accepts.add(coding)
  // The highest weight wins; walking `offered` in order gives ties to the server's preference.
  let chosen: Chosen = 'identity'
  let best = 0
  for (const coding of offered) {
    const q = weightOf(coding)
    if (q > best) {
      best = q
      chosen = coding
    }
  }
  return { chosen, accepts }
}

/** RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); anything else counts as 0. */
function parseQ(text: string): number {
  if (!/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text)) return 0
  return Number(text)
}

/** The content coding a response's header fields declare, lowercased; identity when none. */
export function codingOf(contentEncoding: FieldValue): string {
  if (contentEncoding === undefined) return 'identity'
  const text = (typeof contentEncoding === 'string' ? contentEncoding : contentEncoding.join(','))
    .trim()
    .toLowerCase()
  if (text === '' || text === 'identity') return 'identity'
  return text === 'x-gzip' ? 'gzip' : text
}

/** True when `coding` is one edgecache can decode. */
export function isCoding(coding: string): coding is Coding {
  return coding === 'br' || coding === 'zstd' || coding === 'gzip'
}

/** RFC 9110 §7.7: `no-transform` in Cache-Control forbids changing the content. */
export function forbidsTransform(cacheControl: FieldValue): boolean {
  if (cacheControl === undefined) return false
  const text = typeof cacheControl === 'string' ? cacheControl : cacheControl.join(',')
  return /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(text)
}

/** The media type of a Content-Type value, lowercased, without parameters. */
export function mediaTypeOf(contentType: FieldValue): string | undefined {
  const text = typeof contentType === 'string' ? contentType : contentType?.[0]
  if (text === undefined) return undefined
  const semicolon = text.indexOf(';')
  const type = (semicolon === -1 ? text : text.slice(0, semicolon)).trim().toLowerCase()
  return type === '' ? undefined : type
}

/**
 * Types whose bodies are compressed already (images, audio, video, web fonts, archives):
 * never compressed, even when a configured pattern such as `image/*` names them, since a
 * second compression costs CPU and makes them larger.
 */
const ALREADY_COMPRESSED =
  /^(?:image\/(?!svg\+xml$|bmp$|x-icon$|vnd\.microsoft\.icon$)|audio\/|video\/|font\/woff2?$|application\/(?:zip|gzip|x-gzip|zstd|x-bzip2|x-xz|x-7z-compressed|x-rar-compressed|vnd\.rar|wasm-brotli)$)/

/**
 * True when `type` matches one of `patterns` (`text/html`, or `text/*` for every subtype)
 * and is not of a kind compressed already.
 */
export function isCompressibleType(type: string, patterns: readonly string[]): boolean {
  if (ALREADY_COMPRESSED.test(type)) return false
  for (const pattern of patterns) {
    if (pattern === type) return true
    if (pattern.endsWith('/*') && type.startsWith(pattern.slice(0, -1))) return true
  }
  return false
}

/** What the compression settings say of which responses to compress. */
export interface CompressionRules {
  /** Media types compressed: `text/html`, or `text/*`. */
  readonly types: readonly string[]
  /** Bodies shorter than this many bytes are sent as they are. */
  readonly minBytes: number
}

/** A response as the rules see it: status, header fields, and its body length when known. */
export interface CandidateResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, FieldValue>>
  readonly bodyLength: number | undefined
}

/**
 * True when the response's content may be sent in a coding the client chose, so that it
 * varies by Accept-Encoding: a 200 with a whole body (no Content-Range), of a listed type,
 * no shorter than `minBytes` (a body of unknown length counts as long enough), without
 * `no-transform` (RFC 9110 §7.7), and in identity or a coding edgecache can decode.
 */
export function isNegotiable(response: CandidateResponse, rules: CompressionRules): boolean {
  const { status, headers, bodyLength } = response
  if (status !== 200 || headers['content-range'] !== undefined) return false
  const coding = codingOf(headers['content-encoding'])
  if (coding !== 'identity' && !isCoding(coding)) return false
  if (forbidsTransform(headers['cache-control'])) return false
  const type = mediaTypeOf(headers['content-type'])
  if (type === undefined || !isCompressibleType(type, rules.types)) return false
  // The minimum is about the content: a body the origin coded counts as long enough.
  return coding !== 'identity' || bodyLength === undefined || bodyLength >= rules.minBytes
}

/**
 * RFC 9110 §8.8.3: a body edgecache codes is another representation, so its entity tag must
 * not claim byte-for-byte identity with the origin's: a strong tag is made weak. Weak
 * comparison, which If-None-Match uses (§13.1.2), still matches the origin's tag, so
 * clients' conditional requests and revalidation with the origin keep working.
 */
export function weakened(etag: FieldValue): string | undefined {
  const text = typeof etag === 'string' ? etag : etag?.[0]
  if (text === undefined) return undefined
  const t = text.trim()
  return t.startsWith('W/') ? t : `W/${t}`
}

/** `vary` with Accept-Encoding added, unless it is there already or the value is `*`. */
export function varyWithAcceptEncoding(vary: FieldValue): string {
  if (vary === undefined) return 'Accept-Encoding'
  const text = typeof vary === 'string' ? vary : vary.join(', ')
  const names = text.split(',').map((name) => name.trim().toLowerCase())
  if (names.includes('accept-encoding') || names.includes('*')) return text
  return text.trim() === '' ? 'Accept-Encoding' : `${text}, Accept-Encoding`
}
