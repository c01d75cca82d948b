/**
 * Invalidation after an unsafe method (RFC 9111 §4.4): which primary keys to drop. Pure.
 */
import type { FieldValue } from './cache-control.ts'
import { primaryKey } from './cache-key.ts'
import { firstValue } from './validators.ts'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Methods whose safety edgecache does not know count as unsafe (RFC 9111 §4.4). */
export function isUnsafeMethod(method: string): boolean {
  return !SAFE.has(method)
}

/**
 * Keys to invalidate after `method` got `status`: the target URI, and the Location and
 * Content-Location URIs when they share its origin (a cache must not let one origin
 * invalidate another's entries). Only non-error responses invalidate.
 * `keyOf` turns a target on this origin into the key its responses are stored under
 * (a route may normalise the query); by default the primary key as received.
 */
export function invalidatedKeys(
  method: string,
  status: number,
  scheme: string,
  host: string,
  target: string,
  headers: Readonly<Record<string, FieldValue>>,
  keyOf: (target: string) => string = (t) => primaryKey(scheme, host, t),
): string[] {
  if (!isUnsafeMethod(method) || status < 200 || status >= 400) return []
  const self = primaryKey(scheme, host, target)
  const keys = [keyOf(target)]
  let base: URL
  try {
    base = new URL(self)
  } catch {
    // A Host that does not parse as a URL authority: only the target itself is known.
    return keys
  }
  for (const field of ['location', 'content-location']) {
    const value = headers[field]
    const text = firstValue(value)
    if (text === undefined) continue
    let url: URL
    try {
      url = new URL(text, base)
    } catch {
      continue
    }
    if (url.origin !== base.origin) continue
    const key = keyOf(url.pathname + url.search)
    if (!keys.includes(key)) keys.push(key)
  }
  return keys
}
