/**
 * May a shared cache store this response (RFC 9111 §3)? Each reason not to is a small
 * named check; the first that applies becomes Cache-Status `detail`. Pure.
 */
import { type Directives, qualifiedFields } from './cache-control.ts'
import { isHeuristicallyCacheable } from './freshness.ts'
import type { RequestDirectives } from './request-directives.ts'

/**
 * Final status codes whose meaning edgecache knows (RFC 9110 §15, RFC 6585, RFC 7725): what
 * `must-understand` asks about (RFC 9111 §5.2.2.3). 206 and 304 are left out: edgecache
 * stores whole representations (and answers ranges from them), and a 304 is no
 * representation at all. A 206 is understood only where a route keeps parts
 * (`StorableInput.partial`).
 */
const UNDERSTOOD = new Set([
  200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407,
  408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 426, 428, 429, 431, 451, 500, 501, 502, 503,
  504, 505, 511,
])

export function isUnderstoodStatus(status: number): boolean {
  return UNDERSTOOD.has(status)
}

export type NotStorableReason =
  | 'request-no-store'
  | 'status'
  | 'no-store'
  | 'must-understand'
  | 'private'
  | 'authorization'
  | 'vary-star'
  | 'set-cookie'
  | 'no-freshness'

export interface StorableInput {
  readonly status: number
  readonly directives: Directives
  /** True when the response carries Expires (ignored when a targeted field governs). */
  readonly hasExpires: boolean
  readonly hasSetCookie: boolean
  readonly varyStar: boolean
  readonly request: RequestDirectives
  readonly requestHasAuthorization: boolean
  /** Whether responses with Set-Cookie may be stored; edgecache's default is no. */
  readonly storeSetCookie: boolean
  /** A route policy supplies a lifetime, so a response without freshness information is reusable. */
  readonly policyGivesLifetime?: boolean
  /**
   * The response answers a single-range request of a route that keeps parts (RFC 9111
   * §3.3, §3.4): a 206 may then be stored, as a part (cache/parts.ts says which). @default false
   */
  readonly partial?: boolean
}

/** The reason `input` may not be stored, or undefined when it may. */
export function notStorableReason(input: StorableInput): NotStorableReason | undefined {
  const { status, directives: d } = input
  // RFC 9111 §5.2.1.5
  if (input.request.noStore) return 'request-no-store'
  // RFC 9111 §3: the status must be final; understanding it is asked only of a 206 or a
  // 304, or by must-understand. Any other final status, known or not (299, 500, 599), may
  // be stored when it says how long it is fresh (below).
  if (status < 200 || status > 999) return 'status'
  // RFC 9111 §3.3: a 206 only as a part, which edgecache then knows how to combine.
  const partial = status === 206 && input.partial === true
  if (d.has('must-understand')) {
    // RFC 9111 §5.2.2.3: must-understand overrides no-store when the status is understood.
    if (!isUnderstoodStatus(status) && !partial) return 'must-understand'
  } else {
    if ((status === 206 && !partial) || status === 304) return 'status'
    // RFC 9111 §5.2.2.5
    if (d.has('no-store')) return 'no-store'
  }
  // RFC 9111 §5.2.2.7: a qualified private only keeps the named fields out of the store;
  // one with an empty list names nothing, so it counts as unqualified.
  if (qualifiedFields(d, 'private') === true) return 'private'
  // RFC 9111 §3.5
  if (input.requestHasAuthorization && !d.has('public') && !d.has('s-maxage') && !d.has('must-revalidate')) {
    return 'authorization'
  }
  // RFC 9111 §4.1: Vary: * never matches a later request, so storing it is pointless.
  if (input.varyStar) return 'vary-star'
  if (input.hasSetCookie && !input.storeSetCookie) return 'set-cookie'
  // RFC 9111 §3: something must make it reusable: explicit freshness, public, or a
  // heuristically cacheable status.
  const explicit =
    d.has('max-age') || d.has('s-maxage') || input.hasExpires || d.has('public') || d.has('no-cache')
  if (!explicit && !isHeuristicallyCacheable(status) && input.policyGivesLifetime !== true)
    return 'no-freshness'
  return undefined
}
