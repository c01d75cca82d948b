/**
 * Partial content (RFC 9111 §3.3, §3.4; RFC 9110 §15.3.7): which 206 responses may be kept
 * as parts of a representation, how a new part combines with the stored ones, and which
 * ranges the stored parts cover. Pure: no I/O, no clock; bytes in, bytes out.
 *
 * edgecache keeps the parts of one representation as one body holding only the bytes it
 * received, in order, with a list of the byte ranges they are (`StoredParts.ranges`): never
 * a buffer of the complete length with holes.
 */
import type { FieldValue } from './cache-control.ts'
import { parseHttpDate } from './http-date.ts'
import type { StoredHeaders, StoredResponse } from './stored-response.ts'
import { firstValue } from './validators.ts'

/** Inclusive first and last byte positions. */
export type ByteRange = readonly [start: number, end: number]

/** What a stored parts entry says of its body, beside the response's header fields. */
export interface StoredParts {
  /** The strong validator every part shares (strongValidator). */
  readonly validator: string
  /** The representation's complete length, from Content-Range. */
  readonly length: number
  /** The ranges the body holds, in order, disjoint and not adjacent; the body is their bytes back to back. */
  readonly ranges: readonly ByteRange[]
}

/** A 206 that may be kept as a part: its validator and where its bytes go. */
export interface Part {
  readonly validator: string
  readonly length: number
  readonly start: number
  readonly end: number
}

/** Why a 206 is relayed but not kept as a part; becomes Cache-Status `detail`. */
export type NotPartReason =
  | 'no-content-range'
  | 'unknown-length'
  | 'weak-validator'
  | 'no-validator'
  | 'vary'
  | 'content-coding'

/** `bytes first-last/complete` of a single-part 206 (RFC 9110 §14.4); undefined otherwise. */
export function parseContentRange(
  value: FieldValue,
): { readonly start: number; readonly end: number; readonly length: number | undefined } | undefined {
  const text = firstValue(value)
  if (text === undefined) return undefined
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(text)
  if (match === null) return undefined
  const start = Number(match[1])
  const end = Number(match[2])
  const length = match[3] === '*' ? undefined : Number(match[3])
  // RFC 9110 §14.4: an invalid range (last before first, or past the complete length).
  if (end < start || (length !== undefined && end >= length)) return undefined
  return { start, end, length }
}

/**
 * The response's strong validator (RFC 9110 §8.8.1), as a string two parts compare with
 * `===`; undefined when it has none. A strong ETag; else, when there is no ETag at all, a
 * Last-Modified that counts as strong for a cache (RFC 9110 §8.8.2.2): its response's Date
 * (the origin's, not one the cache added) is at least one second later. A weak ETag says
 * the bytes of two responses may differ, so it rules the response out even with a
 * Last-Modified beside it.
 */
export function strongValidator(headers: Readonly<Record<string, FieldValue>>): string | undefined {
  const etag = firstValue(headers.etag)?.trim()
  if (etag !== undefined) return etag.startsWith('"') ? `etag ${etag}` : undefined
  const modified = parseHttpDate(headers['last-modified'])
  const date = parseHttpDate(headers.date)
  if (modified === undefined || date === undefined || date - modified < 1000) return undefined
  return `last-modified ${modified}`
}

/**
 * Whether an origin's 206 may be kept as a part (beyond what makes any response storable,
 * storable.ts): one range of a representation whose complete length is known, with a
 * strong validator to combine parts by, no Vary (the parts of one URL share one entry) and
 * no content coding (its bytes would not be the representation's).
 */
export function partOf(headers: Readonly<Record<string, FieldValue>>): Part | NotPartReason {
  const range = parseContentRange(headers['content-range'])
  if (range === undefined) return 'no-content-range'
  if (range.length === undefined) return 'unknown-length'
  const validator = strongValidator(headers)
  if (validator === undefined) return headers.etag !== undefined ? 'weak-validator' : 'no-validator'
  if (headers.vary !== undefined) return 'vary'
  const coding = firstValue(headers['content-encoding'])?.trim().toLowerCase()
  if (coding !== undefined && coding !== '' && coding !== 'identity') return 'content-coding'
  return { validator, length: range.length, start: range.start, end: range.end }
}

/** Bytes of `ranges` put together. */
export function heldBytes(ranges: readonly ByteRange[]): number {
  let bytes = 0
  for (const [start, end] of ranges) bytes += end - start + 1
  return bytes
}

/** What combining a new part gives: the parts to store and whether older ones were kept. */
export interface Combined {
  readonly parts: StoredParts
  readonly body: Buffer
  /** False when the new part replaced what was stored (nothing stored, or another validator). */
  readonly combined: boolean
}

/**
 * RFC 9111 §3.4: a new part joins the stored ones only when both share the same strong
 * validator (and so the same complete length); otherwise it is the newer representation
 * and replaces them. Where ranges overlap, the bytes are the same (that is what a shared
 * strong validator says), so whichever piece starts first gives them. Adjacent ranges
 * become one.
 */
export function combineParts(
  stored: { readonly parts: StoredParts; readonly body: Buffer } | undefined,
  part: Part,
  partBody: Buffer,
): Combined {
  const fresh: Combined = {
    parts: { validator: part.validator, length: part.length, ranges: [[part.start, part.end]] },
    body: partBody,
    combined: false,
  }
  if (stored === undefined) return fresh
  const { parts } = stored
  if (parts.validator !== part.validator || parts.length !== part.length) return fresh
  // Every piece with its bytes; the sort is stable, so the new part wins a tie on start.
  const pieces: { start: number; end: number; bytes: Buffer }[] = [
    { start: part.start, end: part.end, bytes: partBody },
  ]
  let offset = 0
  for (const [start, end] of parts.ranges) {
    const size = end - start + 1
    pieces.push({ start, end, bytes: stored.body.subarray(offset, offset + size) })
    offset += size
  }
  pieces.sort((a, b) => a.start - b.start)
  const ranges: [number, number][] = []
  const chunks: Buffer[] = []
  for (const piece of pieces) {
    const last = ranges.at(-1)
    if (last !== undefined && piece.start <= last[1] + 1) {
      // Overlapping or adjacent: only the bytes past the current end are new.
      if (piece.end > last[1]) {
        chunks.push(piece.bytes.subarray(last[1] + 1 - piece.start))
        last[1] = piece.end
      }
      continue
    }
    ranges.push([piece.start, piece.end])
    chunks.push(piece.bytes)
  }
  return {
    parts: { validator: part.validator, length: part.length, ranges },
    body: Buffer.concat(chunks),
    combined: true,
  }
}

/** Whether the parts hold the whole representation (RFC 9110 §15.3.7.3: then it is a 200). */
export function isWhole(parts: StoredParts): boolean {
  const only = parts.ranges[0]
  return parts.ranges.length === 1 && only !== undefined && only[0] === 0 && only[1] === parts.length - 1
}

/**
 * The bytes `start`..`end` (inclusive) of the representation when the stored parts hold
 * all of them (RFC 9111 §3.3: a range wholly within what is stored); undefined otherwise.
 */
export function coveredSlice(
  parts: StoredParts,
  body: Buffer,
  start: number,
  end: number,
): Buffer | undefined {
  let offset = 0
  for (const [from, to] of parts.ranges) {
    if (start >= from && end <= to) return body.subarray(offset + start - from, offset + end - from + 1)
    offset += to - from + 1
  }
  return undefined
}

/** Fields that belong to one answer of a part, not to the stored parts. */
const PER_ANSWER = new Set(['content-range', 'content-length'])

/** The stored response of parts: the newest part's, without Content-Range and Content-Length. */
export function asParts(response: StoredResponse, parts: StoredParts): StoredResponse {
  const headers: Record<string, string | readonly string[]> = {}
  for (const name in response.headers) if (!PER_ANSWER.has(name)) headers[name] = response.headers[name]!
  return { ...response, status: 206, headers, bodyLength: heldBytes(parts.ranges) }
}

/**
 * RFC 9110 §15.3.7.3: parts that hold the whole representation are processed as a complete
 * 200 with a Content-Length of the complete length, as RFC 9111 §3.4 lets a cache do.
 */
export function asWhole(response: StoredResponse, length: number): StoredResponse {
  const headers: Record<string, string | readonly string[]> = {}
  for (const name in response.headers) if (!PER_ANSWER.has(name)) headers[name] = response.headers[name]!
  headers['content-length'] = String(length)
  return { ...response, status: 200, headers: headers as StoredHeaders, bodyLength: length }
}
