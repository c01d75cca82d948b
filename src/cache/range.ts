/**
 * A Range request answered from a stored full response (RFC 9110 §14). One range gets a
 * 206; several fall back to the whole 200, which RFC 9110 §14.2 allows. Pure.
 */
import type { FieldValue } from './cache-control.ts'
import { parseHttpDate } from './http-date.ts'
import type { StoredHeaders } from './stored-response.ts'
import { firstValue } from './validators.ts'

export type RangeSelection =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' }

export function selectRange(
  range: FieldValue,
  ifRange: FieldValue,
  stored: StoredHeaders,
  size: number,
): RangeSelection {
  if (range === undefined) return { kind: 'full' }
  const text = typeof range === 'string' ? range : range[0]
  if (text === undefined) return { kind: 'full' }
  if (
    ifRange !== undefined &&
    !ifRangeMatches(typeof ifRange === 'string' ? ifRange : (ifRange[0] ?? ''), stored)
  ) {
    return { kind: 'full' }
  }
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(text)
  // Several ranges, other units or bad syntax: ignore Range and send everything (§14.2).
  if (match === null) return { kind: 'full' }
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return { kind: 'full' }
  if (first === '') {
    // suffix range: the last N bytes
    const n = Number(last)
    if (n === 0) return { kind: 'unsatisfiable' }
    return size === 0
      ? { kind: 'unsatisfiable' }
      : { kind: 'partial', start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (last !== '' && Number(last) < start) return { kind: 'full' }
  if (start >= size) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end }
}

/** RFC 9110 §13.1.5: If-Range holds a strong ETag or a date that must match exactly. */
function ifRangeMatches(value: string, stored: StoredHeaders): boolean {
  const v = value.trim()
  if (v.startsWith('"')) {
    const etag = firstValue(stored.etag)
    return etag !== undefined && !etag.startsWith('W/') && etag.trim() === v
  }
  if (v.startsWith('W/')) return false
  const date = parseHttpDate(v)
  const lastModified = parseHttpDate(stored['last-modified'])
  return date !== undefined && lastModified !== undefined && date === lastModified
}
