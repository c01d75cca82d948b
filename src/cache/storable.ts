/**
 * May a shared cache store this response (RFC 9111 §3)? Each reason not to is a small
 * named check; the first that applies becomes Cache-Status `detail`. Pure.
 */
import { type Directives, qualifiedFields } from './cache-control.ts'
import { isHeuristicallyCacheable } from './freshness.ts'
import type { RequestDirectives } from './request-directives.ts'

/**
 * Final status codes whose meaning edgecache understands well enough to store
 * (RFC 9111 §3 "the response status code is final and understood"). 206 is left out:
 * edgecache stores whole representations and answers ranges from them.
 */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501])

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
}

/** The reason `input` may not be stored, or undefined when it may. */
export function notStorableReason(input: StorableInput): NotStorableReason | undefined {
  const { status, directives: d } = input
  // RFC 9111 §5.2.1.5
  if (input.request.noStore) return 'request-no-store'
  const understood = isUnderstoodStatus(status)
  if (d.has('must-understand')) {
    // RFC 9111 §5.2.2.3: must-understand overrides no-store when the status is understood.
    if (!understood) return 'must-understand'
  } else {
    if (!understood) return 'status'
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
