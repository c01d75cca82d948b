/**
 * Turns a response from the origin into a StoredResponse, or says why it is not stored.
 * Pure: the caller passes the request and response times it measured.
 */
import { type FieldValue, governingDirectives, qualifiedFields } from './cache-control.ts'
import {
  applyPolicy,
  computeFreshness,
  type FreshnessPolicy,
  type HeuristicOptions,
  hasExplicitLifetime,
} from './freshness.ts'
import { formatHttpDate } from './http-date.ts'
import type { RequestDirectives } from './request-directives.ts'
import type { NotStorableReason } from './storable.ts'
import { notStorableReason } from './storable.ts'
import type { StoredResponse } from './stored-response.ts'
import { targetedDirectives } from './targeted.ts'
import { parseVary } from './vary.ts'

export interface AdmissionOptions extends HeuristicOptions {
  /** RFC 9213 target list, most specific first, lowercased. */
  readonly targetedFields: readonly string[]
  /**
   * The targeted fields this cache consumes: neither stored nor passed on to the client.
   * The others (`cdn-cache-control` by default) go on, for a CDN in front to act on.
   * @default targetedFields
   */
  readonly consumedFields?: readonly string[]
  readonly storeSetCookie: boolean
}

export interface OriginResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, FieldValue>>
  readonly requestTime: number
  readonly responseTime: number
}

/** A route's policy as admission sees it. */
export interface AdmissionPolicy extends FreshnessPolicy {
  /** Store responses with Set-Cookie, leaving Set-Cookie out of the stored copy. */
  readonly ignoreSetCookie?: boolean
}

export type Admission =
  | { readonly storable: true; readonly response: StoredResponse }
  | { readonly storable: false; readonly reason: NotStorableReason }

/** Fields a stored response never keeps: Age is recomputed on every answer. */
const NEVER_STORED = new Set(['age'])

export function admit(
  origin: OriginResponse,
  request: {
    readonly directives: RequestDirectives
    readonly hasAuthorization: boolean
    /** A single-range request of a route that keeps parts: a 206 may be stored (storable.ts). */
    readonly partial?: boolean
  },
  bodyLength: number,
  options: AdmissionOptions,
  policy?: AdmissionPolicy,
): Admission {
  const { directives, targeted } = governingDirectives(origin.headers, options.targetedFields)
  const vary = parseVary(origin.headers.vary)
  const reason = notStorableReason({
    status: origin.status,
    directives,
    hasExpires: !targeted && origin.headers.expires !== undefined,
    hasSetCookie: origin.headers['set-cookie'] !== undefined,
    varyStar: vary === '*',
    request: request.directives,
    requestHasAuthorization: request.hasAuthorization,
    storeSetCookie: options.storeSetCookie || policy?.ignoreSetCookie === true,
    policyGivesLifetime: policy?.ttlMs !== undefined || policy?.ttlOverrideMs !== undefined,
    partial: request.partial === true,
  })
  if (reason !== undefined) return { storable: false, reason }
  const hasExpires = !targeted && origin.headers.expires !== undefined
  const freshness = applyPolicy(
    computeFreshness(
      origin.status,
      origin.headers,
      directives,
      targeted,
      origin.requestTime,
      origin.responseTime,
      options,
    ),
    directives,
    hasExplicitLifetime(directives, hasExpires),
    policy,
  )
  // RFC 9111 §5.2.2.7: the fields a qualified private names are not stored.
  const privateFields = qualifiedFields(directives, 'private')
  const omit = new Set<string>([...NEVER_STORED, ...(options.consumedFields ?? options.targetedFields)])
  if (Array.isArray(privateFields)) for (const f of privateFields) omit.add(f)
  // A route that ignores Set-Cookie stores the response without it, so no client is handed
  // another's cookie (edgecache policy, as Varnish's `unset beresp.http.Set-Cookie`).
  if (policy?.ignoreSetCookie === true && !options.storeSetCookie) omit.add('set-cookie')
  // The value of the targeted field that governed: the first one with directives, as in
  // governingDirectives (an empty one before it was skipped, RFC 9213 §2.1).
  let targetedValue: string | undefined
  if (targeted) {
    for (const field of options.targetedFields) {
      const v = origin.headers[field]
      if (targetedDirectives(v) !== undefined) {
        targetedValue = typeof v === 'string' ? v : v?.join(', ')
        break
      }
    }
  }
  const headers = storedHeaders(origin.headers, omit)
  // RFC 9110 §6.6.1: a cache that receives a response without Date adds one.
  if (headers.date === undefined) headers.date = formatHttpDate(origin.responseTime)
  return {
    storable: true,
    response: {
      status: origin.status,
      headers,
      requestTime: origin.requestTime,
      responseTime: origin.responseTime,
      ...freshness,
      targeted: targetedValue,
      vary: vary === '*' ? undefined : vary,
      bodyLength,
    },
  }
}

export function storedHeaders(
  headers: Readonly<Record<string, FieldValue>>,
  omit: ReadonlySet<string>,
): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !omit.has(name)) out[name] = value
  }
  return out
}
