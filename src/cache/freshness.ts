/**
 * Freshness and age (RFC 9111 §4.2), stale windows (RFC 5861), and the verdict on a
 * stored response for one request. Pure: time comes in as `now`, in epoch ms.
 */
import { type Directives, deltaSeconds, type FieldValue, qualifiedFields } from './cache-control.ts'
import { parseHttpDate } from './http-date.ts'
import type { RequestDirectives } from './request-directives.ts'
import type { Freshness, StoredResponse } from './stored-response.ts'
import { hasValidatorFields } from './validators.ts'

/** RFC 9110 §15.1: status codes that are heuristically cacheable; 451 by RFC 7725 §3. */
const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 451, 501])

export function isHeuristicallyCacheable(status: number): boolean {
  return HEURISTICALLY_CACHEABLE.has(status)
}

export interface HeuristicOptions {
  /** Fraction of (Date − Last-Modified) used as lifetime; RFC 9111 §4.2.2 suggests 10%. */
  readonly heuristicFraction: number
  /** Upper bound of a heuristic lifetime, ms. */
  readonly maxHeuristicTtlMs: number
}

/**
 * Computes freshness for a response received at `responseTime` to a request sent at
 * `requestTime`. `directives` are the governing ones (targeted field or Cache-Control);
 * `targeted` says Expires must be ignored (RFC 9213 §2.1).
 */
export function computeFreshness(
  status: number,
  headers: Readonly<Record<string, FieldValue>>,
  directives: Directives,
  targeted: boolean,
  requestTime: number,
  responseTime: number,
  options: HeuristicOptions,
): Freshness {
  const date = parseHttpDate(headers.date) ?? responseTime
  return {
    initialAgeMs: correctedInitialAge(headers.age, date, requestTime, responseTime),
    ...lifetime(status, headers, directives, targeted, date, options),
    staleWhileRevalidateMs: (deltaSeconds(directives, 'stale-while-revalidate') ?? 0) * 1000,
    staleIfErrorMs: (deltaSeconds(directives, 'stale-if-error') ?? 0) * 1000,
    // RFC 9111 §5.2.2.10: s-maxage also implies proxy-revalidate for a shared cache.
    mustRevalidate:
      directives.has('must-revalidate') || directives.has('proxy-revalidate') || directives.has('s-maxage'),
    noCache: qualifiedFields(directives, 'no-cache') ?? false,
  }
}

/** RFC 9111 §4.2.3: corrected_initial_age = max(apparent_age, age_value + response_delay). */
function correctedInitialAge(
  ageField: FieldValue,
  date: number,
  requestTime: number,
  responseTime: number,
): number {
  const apparentAge = Math.max(0, responseTime - date)
  // RFC 9111 §5.1: a list-based Age uses its first member.
  const ageText = (typeof ageField === 'string' ? ageField : ageField?.[0])?.split(',')[0]
  // An invalid Age is ignored (RFC 9111 §5.1); a huge one is capped like delta-seconds.
  const ageValue =
    ageText !== undefined && /^\s*\d+\s*$/.test(ageText) ? Math.min(Number(ageText), 2147483648) : 0
  const responseDelay = Math.max(0, responseTime - requestTime)
  return Math.max(apparentAge, ageValue * 1000 + responseDelay)
}

/** RFC 9111 §4.2.1: s-maxage, then max-age, then Expires − Date, then a heuristic. */
function lifetime(
  status: number,
  headers: Readonly<Record<string, FieldValue>>,
  directives: Directives,
  targeted: boolean,
  date: number,
  options: HeuristicOptions,
): { lifetimeMs: number; heuristic: boolean } {
  const sMaxAge = deltaSeconds(directives, 's-maxage')
  if (sMaxAge !== undefined) return { lifetimeMs: sMaxAge * 1000, heuristic: false }
  const maxAge = deltaSeconds(directives, 'max-age')
  if (maxAge !== undefined) return { lifetimeMs: maxAge * 1000, heuristic: false }
  // A max-age with an invalid argument is a directive we cannot honour: treat as stale.
  if (directives.has('max-age') || directives.has('s-maxage')) return { lifetimeMs: 0, heuristic: false }
  if (!targeted && headers.expires !== undefined) {
    // RFC 9111 §5.3: an invalid Expires (such as "0") means already expired.
    const expires = parseHttpDate(headers.expires)
    return { lifetimeMs: expires === undefined ? 0 : Math.max(0, expires - date), heuristic: false }
  }
  if (directives.has('public') || isHeuristicallyCacheable(status)) {
    const lastModified = parseHttpDate(headers['last-modified'])
    if (lastModified !== undefined && lastModified < date) {
      const ms = Math.floor((date - lastModified) * options.heuristicFraction)
      return { lifetimeMs: Math.min(ms, options.maxHeuristicTtlMs), heuristic: true }
    }
  }
  return { lifetimeMs: 0, heuristic: false }
}

/** RFC 9111 §4.2.3: current_age = corrected_initial_age + resident_time. */
export function currentAgeMs(stored: StoredResponse, now: number): number {
  return stored.initialAgeMs + Math.max(0, now - stored.responseTime)
}

/** Remaining freshness in ms; negative once stale. */
export function ttlMs(stored: StoredResponse, now: number): number {
  return stored.lifetimeMs - currentAgeMs(stored, now)
}

/**
 * Epoch ms after which a store may drop the response: stale and past every stale window.
 * A response with a validator is kept `keepMs` longer still, so that once stale it can be
 * revalidated with a conditional request (a 304 costs the origin less than a full answer),
 * as Varnish's `keep` and nginx's `proxy_cache_revalidate` do; and one that may be served
 * stale is kept `graceMs` longer, to stand in while the origin cannot be reached (Varnish's
 * grace).
 */
export function retainUntil(stored: StoredResponse, keepMs: number, graceMs = 0): number {
  const staleAt = stored.responseTime - stored.initialAgeMs + stored.lifetimeMs
  const mayServeStale = !stored.mustRevalidate && stored.noCache !== true
  const window = stored.mustRevalidate ? 0 : Math.max(stored.staleWhileRevalidateMs, stored.staleIfErrorMs)
  return (
    staleAt + Math.max(window, hasValidatorFields(stored.headers) ? keepMs : 0, mayServeStale ? graceMs : 0)
  )
}

/** Why a stored response cannot be used without asking the origin, as Cache-Status `fwd` says it. */
export type RevalidateReason = 'stale' | 'request'

export type Verdict =
  /** Fresh: answer from cache. */
  | { readonly kind: 'fresh'; readonly ageMs: number; readonly ttlMs: number }
  /** Stale but the client's max-stale allows it: answer from cache. */
  | { readonly kind: 'stale-allowed'; readonly ageMs: number; readonly ttlMs: number }
  /** Stale inside stale-while-revalidate: answer at once, refresh in the background. */
  | { readonly kind: 'stale-while-revalidate'; readonly ageMs: number; readonly ttlMs: number }
  /**
   * Ask the origin first; `staleIfError` says whether a failure may be answered from cache,
   * `mayServeStale` whether nothing in the response forbids serving it stale when the
   * origin cannot be reached (RFC 9111 §4.2.4: must-revalidate, proxy-revalidate,
   * s-maxage, an unqualified no-cache).
   */
  | {
      readonly kind: 'revalidate'
      readonly reason: RevalidateReason
      readonly ageMs: number
      readonly ttlMs: number
      readonly staleIfError: boolean
      readonly mayServeStale: boolean
    }

/** Decides how `stored` may serve a request with `request` directives at `now` (RFC 9111 §4, §5.2.1; RFC 5861). */
export function decide(stored: StoredResponse, request: RequestDirectives, now: number): Verdict {
  const ageMs = currentAgeMs(stored, now)
  const ttl = stored.lifetimeMs - ageMs
  const staleness = -ttl
  // May a failed revalidation be answered from cache? A stale response only inside
  // stale-if-error (RFC 5861 §4). A fresh one may stand in (a client's no-cache or max-age
  // is a preference, RFC 9111 §5.2.1), but not an unqualified no-cache one, which is never
  // reused without a successful validation (§5.2.2.4) unless stale-if-error says so.
  const staleIfError =
    !stored.mustRevalidate &&
    (stored.staleIfErrorMs > 0 ? staleness <= stored.staleIfErrorMs : ttl > 0 && stored.noCache !== true)
  const revalidate = (reason: RevalidateReason): Verdict => ({
    kind: 'revalidate',
    reason,
    ageMs,
    ttlMs: ttl,
    staleIfError,
    mayServeStale: !stored.mustRevalidate && stored.noCache !== true,
  })
  // RFC 9111 §5.2.1.4 and §5.4: the client asks for a response validated with the origin.
  if (request.noCache) return revalidate('request')
  // RFC 9111 §5.2.2.4: an unqualified no-cache response is always validated before reuse.
  if (stored.noCache === true) return revalidate('stale')
  // RFC 9111 §5.2.1.1 and §5.2.1.3: the client limits age or asks for remaining freshness.
  if (request.maxAgeMs !== undefined && ageMs > request.maxAgeMs) return revalidate('request')
  if (request.minFreshMs !== undefined && ttl < request.minFreshMs) return revalidate('request')
  if (ttl > 0) return { kind: 'fresh', ageMs, ttlMs: ttl }
  // RFC 9111 §5.2.2.2: must-revalidate (and proxy-revalidate, s-maxage) forbids stale reuse.
  if (stored.mustRevalidate) return revalidate('stale')
  // RFC 9111 §5.2.1.2: max-stale lets the client accept a stale response.
  if (request.maxStaleMs !== undefined && staleness <= request.maxStaleMs) {
    return { kind: 'stale-allowed', ageMs, ttlMs: ttl }
  }
  // RFC 5861 §3: serve stale at once while the origin is asked in the background.
  if (stored.staleWhileRevalidateMs > 0 && staleness <= stored.staleWhileRevalidateMs) {
    return { kind: 'stale-while-revalidate', ageMs, ttlMs: ttl }
  }
  return revalidate('stale')
}

/**
 * A soft purge at `invalidatedAt` (epoch ms) ends the response's freshness there: from
 * then on it is stale, so it is served only within its stale windows while it refreshes,
 * and otherwise revalidated first.
 */
export function softPurged(stored: StoredResponse, invalidatedAt: number): StoredResponse {
  const ageThen = stored.initialAgeMs + (invalidatedAt - stored.responseTime)
  const lifetimeMs = Math.max(0, Math.min(stored.lifetimeMs, ageThen))
  return lifetimeMs === stored.lifetimeMs ? stored : { ...stored, lifetimeMs }
}

/**
 * A route's say over freshness, in ms. This is edgecache policy layered on RFC 9111, as
 * Varnish's `beresp.ttl` rules or nginx's `proxy_cache_valid` are: an operator's override
 * of what the origin says, applied after the RFC computation.
 */
export interface FreshnessPolicy {
  /** Lifetime when the response has no explicit one (max-age, s-maxage, Expires); replaces a heuristic. */
  readonly ttlMs?: number
  /** Lifetime whatever the response says. */
  readonly ttlOverrideMs?: number
  readonly minTtlMs?: number
  readonly maxTtlMs?: number
  /** Stale windows when the response sets none. */
  readonly staleWhileRevalidateMs?: number
  readonly staleIfErrorMs?: number
}

/** `freshness` with `policy` applied: override, else default for no explicit lifetime, then the clamps. */
export function applyPolicy(
  freshness: Freshness,
  directives: Directives,
  hasExplicitLifetime: boolean,
  policy: FreshnessPolicy | undefined,
): Freshness {
  if (policy === undefined) return freshness
  let lifetimeMs = freshness.lifetimeMs
  let heuristic = freshness.heuristic
  if (policy.ttlOverrideMs !== undefined) {
    lifetimeMs = policy.ttlOverrideMs
    heuristic = false
  } else if (!hasExplicitLifetime && policy.ttlMs !== undefined) {
    lifetimeMs = policy.ttlMs
    heuristic = false
  }
  if (policy.minTtlMs !== undefined) lifetimeMs = Math.max(lifetimeMs, policy.minTtlMs)
  if (policy.maxTtlMs !== undefined) lifetimeMs = Math.min(lifetimeMs, policy.maxTtlMs)
  return {
    ...freshness,
    lifetimeMs,
    heuristic,
    staleWhileRevalidateMs: directives.has('stale-while-revalidate')
      ? freshness.staleWhileRevalidateMs
      : (policy.staleWhileRevalidateMs ?? freshness.staleWhileRevalidateMs),
    staleIfErrorMs: directives.has('stale-if-error')
      ? freshness.staleIfErrorMs
      : (policy.staleIfErrorMs ?? freshness.staleIfErrorMs),
  }
}

/** True when the response states its own lifetime (RFC 9111 §4.2.1, Expires ignored when targeted). */
export function hasExplicitLifetime(directives: Directives, hasExpires: boolean): boolean {
  return directives.has('s-maxage') || directives.has('max-age') || hasExpires
}
