/**
 * Builds the Cache-Status field (RFC 9211). The only place that spells it. Pure.
 */

/** RFC 9211 §2.2 forward reasons. */
export type ForwardReason =
  | 'bypass'
  | 'method'
  | 'uri-miss'
  | 'vary-miss'
  | 'miss'
  | 'request'
  | 'stale'
  /** Parts are stored, but not the range asked for (RFC 9211 §2.2). */
  | 'partial'

export interface CacheStatusParams {
  readonly hit?: boolean
  readonly fwd?: ForwardReason
  readonly fwdStatus?: number
  /** Remaining freshness, ms; negative when stale. Sent in whole seconds. */
  readonly ttlMs?: number
  readonly stored?: boolean
  readonly collapsed?: boolean
  readonly detail?: string
}

/** `name; hit; ttl=42` or `name; fwd=uri-miss; fwd-status=200; stored; ttl=60`, in RFC 9211 order. */
export function formatCacheStatus(name: string, p: CacheStatusParams): string {
  let out = name
  if (p.hit === true) out += '; hit'
  if (p.fwd !== undefined) out += `; fwd=${p.fwd}`
  if (p.fwdStatus !== undefined) out += `; fwd-status=${p.fwdStatus}`
  if (p.ttlMs !== undefined) out += `; ttl=${Math.floor(p.ttlMs / 1000)}`
  if (p.stored === true) out += '; stored'
  if (p.collapsed === true) out += '; collapsed'
  if (p.detail !== undefined) out += `; detail=${token(p.detail)}`
  return out
}

/** detail is a token or a quoted string (RFC 9211 §2.8); edgecache's details are tokens. */
function token(detail: string): string {
  return /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~:/-]*$/.test(detail)
    ? detail
    : `"${detail.replace(/["\\]/g, '\\$&')}"`
}

/**
 * RFC 9211 §2: a cache keeps the entries of the caches before it (nearer the origin) and
 * adds its own last. `before` is the field as the response came with it, if it did.
 */
export function afterCacheStatus(before: string | readonly string[] | undefined, entry: string): string {
  if (before === undefined) return entry
  const list = (typeof before === 'string' ? before : before.join(', ')).trim()
  return list === '' ? entry : `${list}, ${entry}`
}
