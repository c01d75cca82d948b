/**
 * Hop-by-hop header fields (RFC 9110 §7.6.1): the fields that describe one connection and
 * so never cross the proxy, in either direction. Pure: no I/O, no state. This runs on every
 * miss, so a field costs one Set lookup and one prefix test; Connection is split only when
 * it is present, and no regular expression runs per field.
 */
import type { HeaderMap } from '../pipeline/context.ts'

/**
 * Fields that are hop-by-hop whatever Connection says, names lowercased. `proxy-*` fields
 * are matched by prefix in {@link isHopByHop}, so the two listed here are documentation.
 */
export const hopByHopFields: ReadonlySet<string> = new Set([
  'connection',
  // RFC 9110 §7.6.1 names Keep-Alive, TE, Transfer-Encoding and Upgrade, and Proxy-Connection,
  // which old clients still send in place of Connection.
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  // RFC 9110 §6.6.2: Trailer announces trailer fields, which edgecache does not forward.
  'trailer',
  // RFC 9110 §11.7.1, §11.7.2: the proxy credentials belong to the hop that asked for them.
  'proxy-authenticate',
  'proxy-authorization',
  // RFC 7540 §3.2.1: HTTP2-Settings is connection-specific (the h2c upgrade).
  'http2-settings',
])

/** True when `name` (lowercased) is a hop-by-hop field or any `proxy-*` field. */
export function isHopByHop(name: string): boolean {
  return hopByHopFields.has(name) || name.startsWith('proxy-')
}

/**
 * The field names a Connection header lists (RFC 9110 §7.6.1), lowercased, or undefined
 * when it lists none. `close` and `keep-alive` are left out: they are connection options,
 * and the Keep-Alive field is hop-by-hop anyway, so the usual values need no Set.
 */
export function connectionOptions(
  value: string | readonly string[] | undefined,
): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined
  // What nearly every backend and client sends, on every request: nothing to split.
  if (value === 'keep-alive' || value === 'close') return undefined
  const joined = typeof value === 'string' ? value : value.join(',')
  let names: Set<string> | undefined
  for (const token of joined.split(',')) {
    const name = token.trim().toLowerCase()
    if (name === '' || name === 'close' || name === 'keep-alive') continue
    names ??= new Set()
    names.add(name)
  }
  return names
}

/**
 * A copy of `headers` without hop-by-hop fields and without the fields their Connection
 * header names. Names must already be lowercased, as node:http and undici give them.
 */
export function withoutHopByHop(headers: HeaderMap): Record<string, string | string[]> {
  const named = connectionOptions(headers.connection)
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || isHopByHop(name) || named?.has(name)) continue
    // A field named __proto__ would set the copy's prototype instead of a field.
    if (name === '__proto__') continue
    out[name] = value
  }
  return out
}
