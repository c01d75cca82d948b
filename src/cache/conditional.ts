/**
 * A client's conditional GET or HEAD answered from a stored response (RFC 9111 §4.3.2,
 * RFC 9110 §13.1.2, §13.1.3, §15.4.5). Pure.
 */
import type { FieldValue } from './cache-control.ts'
import { parseHttpDate } from './http-date.ts'
import type { StoredHeaders } from './stored-response.ts'
import { firstValue, weakTag } from './validators.ts'

/**
 * True when the client already has the stored representation: its If-None-Match matches
 * the stored ETag (weak comparison), or, without If-None-Match, the stored response has
 * not changed since If-Modified-Since.
 */
export function isNotModified(
  request: Readonly<Record<string, FieldValue>>,
  stored: StoredHeaders,
  storedAt: number,
): boolean {
  const ifNoneMatch = request['if-none-match']
  if (ifNoneMatch !== undefined) {
    const etag = firstValue(stored.etag)
    const list = typeof ifNoneMatch === 'string' ? ifNoneMatch : ifNoneMatch.join(',')
    if (list.trim() === '*') return true
    if (etag === undefined) return false
    const wanted = weakTag(etag)
    return list.split(',').some((candidate) => weakTag(candidate) === wanted)
  }
  const since = parseHttpDate(request['if-modified-since'])
  if (since === undefined) return false
  // RFC 9111 §4.3.2: compare with Last-Modified, else Date, else when it was stored.
  const modified = parseHttpDate(stored['last-modified']) ?? parseHttpDate(stored.date) ?? storedAt
  return modified <= since
}

/** RFC 9110 §15.4.5: the fields a 304 carries. */
const NOT_MODIFIED_FIELDS = [
  'cache-control',
  'content-location',
  'date',
  'etag',
  'expires',
  'vary',
  'last-modified',
]

export function notModifiedHeaders(stored: StoredHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name of NOT_MODIFIED_FIELDS) {
    const value = stored[name]
    if (value !== undefined) out[name] = typeof value === 'string' ? value : [...value]
  }
  return out
}
