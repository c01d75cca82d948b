/**
 * A Range request answered from a stored full response (RFC 9110 §14). One range gets a
 * 206; several fall back to the whole 200, which RFC 9110 §14.2 allows. Also the pieces a
 * range answered from stored parts needs (parts.ts): one range read without a size, then
 * resolved against the complete length. Pure.
 */
import type { FieldValue } from './cache-control.ts'
import { parseHttpDate } from './http-date.ts'
import type { StoredHeaders } from './stored-response.ts'
import { firstValue } from './validators.ts'

export type RangeSelection =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' }

/**
 * One byte range as the client wrote it (RFC 9110 §14.1.2): `first-last`, `first-` (no
 * last) or the suffix `-n` (no first).
 */
export interface ByteRangeSpec {
  readonly first: number | undefined
  readonly last: number | undefined
}

/**
 * The one byte range a Range field asks for; undefined for several ranges, other units, or
 * bad syntax, which a server may ignore and answer whole (RFC 9110 §14.2).
 */
export function parseByteRange(range: FieldValue): ByteRangeSpec | undefined {
  const text = typeof range === 'string' ? range : range?.[0]
  if (text === undefined) return undefined
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(text)
  if (match === null) return undefined
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return undefined
  // An invalid range-spec (last before first) makes the whole field invalid (§14.1.1).
  if (first !== '' && last !== '' && Number(last) < Number(first)) return undefined
  return { first: first === '' ? undefined : Number(first), last: last === '' ? undefined : Number(last) }
}

/** The bytes `spec` selects of a representation `size` bytes long (RFC 9110 §14.1.2). */
export function resolveRange(spec: ByteRangeSpec, size: number): RangeSelection {
  if (spec.first === undefined) {
    // suffix range: the last N bytes
    const n = spec.last ?? 0
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 }
  }
  const start = spec.first
  if (start >= size) return { kind: 'unsatisfiable' }
  const end = spec.last === undefined ? size - 1 : Math.min(spec.last, size - 1)
  return { kind: 'partial', start, end }
}

export function selectRange(
  range: FieldValue,
  ifRange: FieldValue,
  stored: StoredHeaders,
  size: number,
): RangeSelection {
  if (range === undefined) return { kind: 'full' }
  if (ifRange !== undefined && !ifRangeMatches(ifRange, stored)) return { kind: 'full' }
  const spec = parseByteRange(range)
  // Several ranges, other units or bad syntax: ignore Range and send everything (§14.2).
  if (spec === undefined) return { kind: 'full' }
  return resolveRange(spec, size)
}

/** RFC 9110 §13.1.5: If-Range holds a strong ETag or a date that must match exactly. */
export function ifRangeMatches(ifRange: FieldValue, stored: StoredHeaders): boolean {
  const v = (typeof ifRange === 'string' ? ifRange : (ifRange?.[0] ?? '')).trim()
  if (v.startsWith('"')) {
    const etag = firstValue(stored.etag)
    return etag !== undefined && !etag.startsWith('W/') && etag.trim() === v
  }
  if (v.startsWith('W/')) return false
  const date = parseHttpDate(v)
  const lastModified = parseHttpDate(stored['last-modified'])
  return date !== undefined && lastModified !== undefined && date === lastModified
}
