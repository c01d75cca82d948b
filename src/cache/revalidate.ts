/**
 * Revalidation with the origin (RFC 9111 §4.3): the conditional fields to send, and how a
 * 304 updates the stored response (§3.2, §4.3.4). Pure.
 */
import { type FieldValue, governingDirectives, qualifiedFields } from './cache-control.ts'
import {
  applyPolicy,
  computeFreshness,
  type FreshnessPolicy,
  type HeuristicOptions,
  hasExplicitLifetime,
} from './freshness.ts'
import { formatHttpDate, parseHttpDate } from './http-date.ts'
import { parseRequestDirectives } from './request-directives.ts'
import { type NotStorableReason, notStorableReason } from './storable.ts'
import type { StoredHeaders, StoredResponse } from './stored-response.ts'
import { firstValue, hasValidatorFields, weakTag } from './validators.ts'
import { parseVary } from './vary.ts'

/** True when the stored response carries a validator the origin can check. */
export function hasValidator(stored: StoredResponse): boolean {
  return hasValidatorFields(stored.headers)
}

/** RFC 9111 §4.3.1: If-None-Match from the ETag, If-Modified-Since from Last-Modified. */
export function conditionalFields(stored: StoredResponse): Record<string, string> {
  const fields: Record<string, string> = {}
  const etag = firstValue(stored.headers.etag)
  if (etag !== undefined) fields['if-none-match'] = etag
  // An invalid Last-Modified is no validator: sending it back would ask nothing.
  const lastModified = firstValue(stored.headers['last-modified'])
  if (lastModified !== undefined && parseHttpDate(lastModified) !== undefined)
    fields['if-modified-since'] = lastModified
  return fields
}

/**
 * RFC 9111 §3.2: fields a 304 must not replace. Content-Length describes the stored body,
 * which the 304 does not carry; Content-Encoding likewise.
 */
const KEPT_FROM_STORED = new Set(['content-length', 'content-encoding', 'content-range', 'age'])

/**
 * RFC 5861 §3 asks a cache to try to refresh a response it serves within
 * stale-while-revalidate, and a refresh normally makes it fresh again. One that arrived
 * stale (its Age past its lifetime, or max-age=0) stays stale however often it is fetched,
 * and refreshing it at every stale answer sends the origin a request per request's worth of
 * refresh time (hundreds a second for one hot key). Such a response is refreshed at most
 * every `intervalMs` from its arrival, and always before its stale window would close. The
 * arrival time is the stored response's, so the interval holds for every worker and host
 * sharing the store. `ttlMs` is the verdict's (negative: how long it has been stale);
 * `invalidatedAt`, when a soft purge made it stale: that asks for a new copy at once.
 */
export function refreshDue(
  stored: StoredResponse,
  ttlMs: number,
  now: number,
  intervalMs: number,
  invalidatedAt: number | undefined,
): boolean {
  if (intervalMs <= 0 || invalidatedAt !== undefined) return true
  // Fresh once (the usual case): refresh at once.
  if (stored.lifetimeMs > stored.initialAgeMs) return true
  if (now - stored.responseTime >= intervalMs) return true
  return stored.staleWhileRevalidateMs + ttlMs <= intervalMs
}

export interface UpdateOptions extends HeuristicOptions {
  readonly targetedFields: readonly string[]
  /** As AdmissionOptions.consumedFields. @default targetedFields */
  readonly consumedFields?: readonly string[]
  /** As AdmissionOptions.storeSetCookie: only then does a 304's Set-Cookie reach the stored copy. */
  readonly storeSetCookie: boolean
}

/** A stored response a 304 refreshed. */
export interface Refreshed {
  readonly response: StoredResponse
  /**
   * Why the refreshed response may no longer be stored, as its new fields say (no-store,
   * private, Vary: *; RFC 9111 §3): the caller answers with it once and drops the stored
   * copy. Undefined when it may be stored again.
   */
  readonly notStorable: NotStorableReason | undefined
}

/** A request that asks nothing of the cache: what a refreshed response is judged against. */
const PLAIN_REQUEST = parseRequestDirectives(undefined, undefined)

/**
 * The stored response updated from a 304 received at `responseTime`, or undefined when the
 * 304's validator does not match the stored one (RFC 9111 §4.3.4: then it does not select
 * this response, and the caller fetches afresh).
 *
 * A 304's Set-Cookie is for the client whose request it answers: it is not stored (unless
 * `storeSetCookie`, as for a 200), or every later client would be handed that cookie.
 */
export function updateFromNotModified(
  stored: StoredResponse,
  notModified: Readonly<Record<string, FieldValue>>,
  requestTime: number,
  responseTime: number,
  options: UpdateOptions,
  policy?: FreshnessPolicy,
): Refreshed | undefined {
  const newEtag = firstValue(notModified.etag)
  const storedEtag = firstValue(stored.headers.etag)
  if (newEtag !== undefined && storedEtag !== undefined && weakTag(newEtag) !== weakTag(storedEtag))
    return undefined
  const merged: Record<string, string | readonly string[]> = { ...stored.headers }
  for (const name in notModified) {
    const value = notModified[name]
    const consumed = options.consumedFields ?? options.targetedFields
    if (value === undefined || KEPT_FROM_STORED.has(name) || consumed.includes(name)) continue
    if (name === 'set-cookie' && !options.storeSetCookie) continue
    merged[name] = value
  }
  // RFC 9110 §8.8.3: a stored tag that is weak stays weak (the tags matched weakly above).
  // It is how a cache marks a body it coded itself, which a 304 about the origin's own
  // representation does not make byte-identical to it.
  if (newEtag !== undefined && storedEtag?.trim().startsWith('W/') === true) merged.etag = storedEtag
  // RFC 9110 §6.6.1: a 304 without Date is dated on arrival; keeping the stored Date would
  // make the renewed response look as old as the first one (RFC 9111 §4.2.3 apparent age).
  if (notModified.date === undefined) merged.date = formatHttpDate(responseTime)
  // The targeted field governs again unless the 304 brought a new one (RFC 9213 §2.1).
  const forDirectives: Record<string, FieldValue> = { ...merged }
  let targeted = stored.targeted
  const first304Target = options.targetedFields.find((f) => notModified[f] !== undefined)
  if (first304Target !== undefined) {
    const v = notModified[first304Target]
    targeted = typeof v === 'string' ? v : v?.join(', ')
  }
  if (targeted !== undefined && options.targetedFields[0] !== undefined)
    forDirectives[options.targetedFields[0]] = targeted
  forDirectives.age = notModified.age
  const governing = governingDirectives(forDirectives, options.targetedFields)
  const freshness = applyPolicy(
    computeFreshness(
      stored.status,
      forDirectives,
      governing.directives,
      governing.targeted,
      requestTime,
      responseTime,
      options,
    ),
    governing.directives,
    hasExplicitLifetime(governing.directives, !governing.targeted && forDirectives.expires !== undefined),
    policy,
  )
  // RFC 9111 §3.2, §3.1: fields a qualified private names are not stored from a 304 either.
  const privateFields = qualifiedFields(governing.directives, 'private')
  if (Array.isArray(privateFields)) for (const f of privateFields) delete merged[f]
  const notStorable = notStorableReason({
    status: stored.status,
    directives: governing.directives,
    hasExpires: !governing.targeted && forDirectives.expires !== undefined,
    // Left out of the stored copy above, so never a reason to drop it.
    hasSetCookie: false,
    varyStar: parseVary(merged.vary) === '*',
    request: PLAIN_REQUEST,
    requestHasAuthorization: false,
    storeSetCookie: options.storeSetCookie,
    policyGivesLifetime: policy?.ttlMs !== undefined || policy?.ttlOverrideMs !== undefined,
  })
  return {
    response: {
      ...stored,
      headers: merged as StoredHeaders,
      requestTime,
      responseTime,
      ...freshness,
      targeted,
    },
    notStorable,
  }
}
