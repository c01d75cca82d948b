import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { governingDirectives } from '../../src/cache/cache-control.ts'
import {
  computeFreshness,
  currentAgeMs,
  decide,
  isHeuristicallyCacheable,
  retainUntil,
  ttlMs,
  type Verdict,
} from '../../src/cache/freshness.ts'
import type { Freshness } from '../../src/cache/stored-response.ts'
import {
  DAY,
  type Headers,
  HOUR,
  httpDate,
  MINUTE,
  OPTIONS,
  requestWith,
  SECOND,
  storedFrom,
  T0,
} from './fixtures.ts'

/** Freshness of a response as the engine computes it when storing, with edgecache's defaults. */
function freshnessOf(c: {
  status?: number
  headers: Headers
  requestTime?: number
  responseTime?: number
  heuristicFraction?: number
}): Freshness {
  const requestTime = c.requestTime ?? T0
  const { directives, targeted } = governingDirectives(c.headers, OPTIONS.targetedFields)
  return computeFreshness(
    c.status ?? 200,
    c.headers,
    directives,
    targeted,
    requestTime,
    c.responseTime ?? requestTime,
    { ...OPTIONS, heuristicFraction: c.heuristicFraction ?? OPTIONS.heuristicFraction },
  )
}

describe('isHeuristicallyCacheable', () => {
  it('RFC 9110 §15.1: the heuristically cacheable status codes', () => {
    for (const status of [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]) {
      assert.equal(isHeuristicallyCacheable(status), true, String(status))
    }
  })
  it('RFC 7725 §3: 451 is cacheable by default', () => {
    assert.equal(isHeuristicallyCacheable(451), true)
  })
  it('RFC 9110 §15.1: other status codes need explicit freshness', () => {
    for (const status of [201, 202, 302, 303, 304, 307, 400, 401, 403, 500, 502, 503, 504, 299]) {
      assert.equal(isHeuristicallyCacheable(status), false, String(status))
    }
  })
})

describe('computeFreshness: lifetime', () => {
  const cases: {
    name: string
    status?: number
    headers: Headers
    responseTime?: number
    heuristicFraction?: number
    lifetimeMs: number
    heuristic?: boolean
  }[] = [
    {
      name: 'RFC 9111 §4.2.1: s-maxage takes precedence over max-age for a shared cache',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60, s-maxage=120' },
      lifetimeMs: 120 * SECOND,
    },
    {
      name: 'RFC 9111 §4.2.1: max-age takes precedence over Expires',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60', expires: httpDate(T0 + HOUR) },
      lifetimeMs: 60 * SECOND,
    },
    {
      name: 'RFC 9111 §4.2.1: max-age=0 gives a response that is stale at once',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=0' },
      lifetimeMs: 0,
    },
    {
      name: 'RFC 9111 §4.2.1: a duplicated max-age uses its first occurrence',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60, max-age=600' },
      lifetimeMs: 60 * SECOND,
    },
    {
      name: 'RFC 9111 §4.2.1: an invalid max-age makes the response stale, Expires notwithstanding',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=soon', expires: httpDate(T0 + HOUR) },
      lifetimeMs: 0,
    },
    {
      name: 'RFC 9111 §4.2.1: without max-age the lifetime is Expires minus Date',
      headers: { date: httpDate(T0), expires: httpDate(T0 + 5 * MINUTE) },
      // arrived 30 s after its Date: the lifetime still comes from the origin's own clock
      responseTime: T0 + 30 * SECOND,
      lifetimeMs: 5 * MINUTE,
    },
    {
      name: 'RFC 9111 §4.2.1: Expires before Date gives a zero lifetime',
      headers: { date: httpDate(T0), expires: httpDate(T0 - HOUR) },
      lifetimeMs: 0,
    },
    {
      name: 'RFC 9111 §4.2.1: without Date, Expires is measured from the response time',
      headers: { expires: httpDate(T0 + 100 * SECOND) },
      lifetimeMs: 100 * SECOND,
    },
    {
      // §4.2.1 allows the first line or stale; edgecache takes stale, as conformance suites expect.
      name: 'RFC 9111 §4.2.1: an Expires sent on two lines counts as already expired',
      headers: { date: httpDate(T0), expires: [httpDate(T0 + MINUTE), httpDate(T0 + HOUR)] },
      lifetimeMs: 0,
    },
    ...[
      ['a zone other than GMT', 'Sun, 06 Nov 2094 08:49:37 UTC'],
      ['a numeric zone', 'Sun, 06 Nov 2094 08:49:37 +0000'],
      ['no comma after the day', 'Sun 06 Nov 2094 08:49:37 GMT'],
      ['dashes in an IMF-fixdate', 'Sun, 06-Nov-2094 08:49:37 GMT'],
      ['two spaces', 'Sun,  06 Nov 2094 08:49:37 GMT'],
      ['a one-digit hour', 'Sun, 06 Nov 2094 8:49:37 GMT'],
      ['a lower-case month', 'Sun, 06 nov 2094 08:49:37 GMT'],
    ].map(([what, expires]) => ({
      name: `RFC 9111 §5.3: an Expires with ${what} is invalid, so already expired`,
      headers: { date: httpDate(T0), expires },
      lifetimeMs: 0,
    })),
    {
      name: 'RFC 9110 §5.6.7: an Expires in the obsolete RFC 850 form is a date',
      headers: { date: 'Thursday, 01-Jan-15 00:00:00 GMT', expires: 'Thursday, 01-Jan-15 01:00:00 GMT' },
      lifetimeMs: HOUR,
    },
    {
      name: 'RFC 9110 §5.6.7: an Expires in the obsolete asctime form is a date',
      headers: { date: 'Thu Jan  1 00:00:00 2015', expires: 'Thu Jan  1 01:00:00 2015' },
      lifetimeMs: HOUR,
    },
    {
      name: 'RFC 9110 §5.6.7: an invalid Last-Modified gives no heuristic freshness',
      headers: { date: httpDate(T0), 'last-modified': 'Sun, 06 Nov 1994 08:49:37 UTC' },
      lifetimeMs: 0,
      heuristic: false,
    },
    {
      name: 'RFC 9111 §5.3: an invalid Expires such as "0" means already expired',
      headers: { date: httpDate(T0), expires: '0', 'last-modified': httpDate(T0 - 10 * DAY) },
      lifetimeMs: 0,
      heuristic: false,
    },
    {
      name: 'RFC 9111 §5.3: an Expires that is not a date means already expired',
      headers: { date: httpDate(T0), expires: 'never' },
      lifetimeMs: 0,
    },
    {
      name: 'RFC 9111 §4.2.2: without explicit freshness the lifetime is a fraction of the time since Last-Modified',
      headers: { date: httpDate(T0), 'last-modified': httpDate(T0 - 5 * HOUR) },
      lifetimeMs: 30 * MINUTE,
      heuristic: true,
    },
    {
      name: 'RFC 9111 §4.2.2: the heuristic fraction is configurable',
      headers: { date: httpDate(T0), 'last-modified': httpDate(T0 - 5 * HOUR) },
      heuristicFraction: 0.2,
      lifetimeMs: HOUR,
      heuristic: true,
    },
    {
      name: 'RFC 9111 §4.2.2: a heuristic lifetime is capped',
      headers: { date: httpDate(T0), 'last-modified': httpDate(T0 - 365 * DAY) },
      lifetimeMs: DAY,
      heuristic: true,
    },
    {
      name: 'RFC 9111 §4.2.2: a heuristically cacheable status such as 404 gets a heuristic lifetime',
      status: 404,
      headers: { date: httpDate(T0), 'last-modified': httpDate(T0 - 5 * HOUR) },
      lifetimeMs: 30 * MINUTE,
      heuristic: true,
    },
    {
      name: 'RFC 9111 §4.2.2: a status that is not heuristically cacheable gets no heuristic lifetime',
      status: 302,
      headers: { date: httpDate(T0), 'last-modified': httpDate(T0 - 5 * HOUR) },
      lifetimeMs: 0,
      heuristic: false,
    },
    {
      name: 'RFC 9111 §4.2.2: public allows a heuristic lifetime for any status',
      status: 302,
      headers: { date: httpDate(T0), 'cache-control': 'public', 'last-modified': httpDate(T0 - 5 * HOUR) },
      lifetimeMs: 30 * MINUTE,
      heuristic: true,
    },
    {
      name: 'RFC 9111 §4.2.2: no heuristic when an explicit Expires is present',
      headers: {
        date: httpDate(T0),
        expires: httpDate(T0 + MINUTE),
        'last-modified': httpDate(T0 - 10 * DAY),
      },
      lifetimeMs: MINUTE,
      heuristic: false,
    },
    {
      name: 'RFC 9111 §4.2.2: no heuristic from a Last-Modified later than Date',
      headers: { date: httpDate(T0), 'last-modified': httpDate(T0 + HOUR) },
      lifetimeMs: 0,
      heuristic: false,
    },
    {
      name: 'RFC 9111 §4.2.2: no heuristic without Last-Modified',
      headers: { date: httpDate(T0) },
      lifetimeMs: 0,
      heuristic: false,
    },
    {
      name: 'RFC 9213 §2.1: a targeted field beats Cache-Control for the lifetime',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=10', 'cdn-cache-control': 'max-age=600' },
      lifetimeMs: 600 * SECOND,
    },
    {
      name: "RFC 9213 §2.1: edgecache's own field beats CDN-Cache-Control for the lifetime",
      headers: {
        date: httpDate(T0),
        'edgecache-cache-control': 'max-age=900',
        'cdn-cache-control': 'max-age=600',
        'cache-control': 'max-age=10',
      },
      lifetimeMs: 900 * SECOND,
    },
    {
      name: 'RFC 9213 §2.1: Expires is ignored when a targeted field governs',
      headers: { date: httpDate(T0), 'cdn-cache-control': 'must-revalidate', expires: httpDate(T0 + HOUR) },
      lifetimeMs: 0,
    },
    {
      name: 'RFC 9213 §2.1: an empty targeted field falls back to Cache-Control and Expires',
      headers: { date: httpDate(T0), 'cdn-cache-control': '', expires: httpDate(T0 + 5 * MINUTE) },
      lifetimeMs: 5 * MINUTE,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const f = freshnessOf(c)
      assert.equal(f.lifetimeMs, c.lifetimeMs)
      if (c.heuristic !== undefined) assert.equal(f.heuristic, c.heuristic)
    })
  }
})

describe('computeFreshness: initial age', () => {
  const cases: {
    name: string
    headers: Headers
    requestTime: number
    responseTime: number
    initialAgeMs: number
  }[] = [
    {
      name: 'RFC 9111 §4.2.3: a fresh response straight from the origin has age zero',
      headers: { date: httpDate(T0) },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 0,
    },
    {
      name: 'RFC 9111 §4.2.3: a received Age counts toward the age',
      headers: { date: httpDate(T0), age: '30' },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 30 * SECOND,
    },
    {
      name: 'RFC 9111 §4.2.3: the response delay is added to the received Age',
      headers: { date: httpDate(T0), age: '30' },
      requestTime: T0,
      responseTime: T0 + 2 * SECOND,
      initialAgeMs: 32 * SECOND,
    },
    {
      name: 'RFC 9111 §4.2.3: the apparent age wins when larger than the corrected Age',
      headers: { date: httpDate(T0 - MINUTE), age: '10' },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: MINUTE,
    },
    {
      name: 'RFC 9111 §4.2.3: a Date in the past gives an apparent age without any Age field',
      headers: { date: httpDate(T0 - 90 * SECOND) },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 90 * SECOND,
    },
    {
      name: 'RFC 9111 §4.2.3: a Date in the future (clock skew) gives no negative apparent age',
      headers: { date: httpDate(T0 + HOUR) },
      requestTime: T0 - SECOND,
      responseTime: T0,
      initialAgeMs: SECOND,
    },
    {
      name: 'RFC 9111 §4.2.3: without Date the apparent age is zero and the delay still counts',
      headers: { age: '5' },
      requestTime: T0,
      responseTime: T0 + 500,
      initialAgeMs: 5500,
    },
    {
      name: 'RFC 9111 §5.1: a list-valued Age uses its first member',
      headers: { date: httpDate(T0), age: '10, 20' },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 10 * SECOND,
    },
    {
      name: 'RFC 9111 §5.1: Age on several lines uses the first',
      headers: { date: httpDate(T0), age: ['10', '20'] },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 10 * SECOND,
    },
    {
      name: 'RFC 9111 §5.1: a negative Age is invalid and ignored',
      headers: { date: httpDate(T0), age: '-5' },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 0,
    },
    {
      name: 'RFC 9111 §5.1: a non-numeric Age is invalid and ignored',
      headers: { date: httpDate(T0), age: 'old' },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 0,
    },
    {
      name: 'RFC 9111 §1.2.2: a huge Age is capped at 2^31 seconds',
      headers: { date: httpDate(T0), age: '99999999999999' },
      requestTime: T0,
      responseTime: T0,
      initialAgeMs: 2147483648 * SECOND,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(freshnessOf(c).initialAgeMs, c.initialAgeMs)
    })
  }
})

describe('computeFreshness: directives kept for later', () => {
  const cases: { name: string; cacheControl: string; expected: Partial<Freshness> }[] = [
    {
      name: 'RFC 5861 §3, §4: stale-while-revalidate and stale-if-error windows, in ms',
      cacheControl: 'max-age=60, stale-while-revalidate=30, stale-if-error=600',
      expected: { staleWhileRevalidateMs: 30 * SECOND, staleIfErrorMs: 600 * SECOND },
    },
    {
      name: 'RFC 5861 §3, §4: no stale windows without the directives',
      cacheControl: 'max-age=60',
      expected: { staleWhileRevalidateMs: 0, staleIfErrorMs: 0, mustRevalidate: false, noCache: false },
    },
    {
      name: 'RFC 9111 §5.2.2.2: must-revalidate is recorded',
      cacheControl: 'max-age=60, must-revalidate',
      expected: { mustRevalidate: true },
    },
    {
      name: 'RFC 9111 §5.2.2.8: proxy-revalidate binds a shared cache like must-revalidate',
      cacheControl: 'max-age=60, proxy-revalidate',
      expected: { mustRevalidate: true },
    },
    {
      name: 'RFC 9111 §5.2.2.10: s-maxage implies proxy-revalidate for a shared cache',
      cacheControl: 's-maxage=60',
      expected: { mustRevalidate: true },
    },
    {
      name: 'RFC 9111 §5.2.2.4: an unqualified no-cache is recorded',
      cacheControl: 'no-cache, max-age=60',
      expected: { noCache: true },
    },
    {
      name: 'RFC 9111 §5.2.2.4: a qualified no-cache records its field names',
      cacheControl: 'no-cache="Set-Cookie", max-age=60',
      expected: { noCache: ['set-cookie'] },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const f = freshnessOf({ headers: { date: httpDate(T0), 'cache-control': c.cacheControl } })
      assert.deepEqual({ ...f, ...c.expected }, f)
    })
  }
})

describe('currentAgeMs, ttlMs and retainUntil', () => {
  const stored = storedFrom({ headers: { age: '10', 'cache-control': 'max-age=60' } })

  it('RFC 9111 §4.2.3: current age is the initial age plus the time resident in the cache', () => {
    assert.equal(currentAgeMs(stored, T0 + 20 * SECOND), 30 * SECOND)
    assert.equal(ttlMs(stored, T0 + 20 * SECOND), 30 * SECOND)
  })
  it('RFC 9111 §4.2.3: a clock behind the response time adds no negative resident time', () => {
    assert.equal(currentAgeMs(stored, T0 - MINUTE), 10 * SECOND)
  })
  it('RFC 9111 §4.2: the remaining freshness goes negative once stale', () => {
    assert.equal(ttlMs(stored, T0 + 65 * SECOND), -15 * SECOND)
  })

  const retain: { name: string; headers: Headers; keepMs?: number; until: number }[] = [
    {
      name: 'RFC 9111 §4.2: a response without a validator is kept until it goes stale',
      headers: { 'cache-control': 'max-age=60' },
      keepMs: HOUR,
      until: T0 + 50 * SECOND,
    },
    {
      name: 'RFC 5861 §3, §4: a response is kept through the longer of its stale windows',
      headers: { 'cache-control': 'max-age=60, stale-while-revalidate=30, stale-if-error=300' },
      until: T0 + 350 * SECOND,
    },
    {
      name: 'RFC 9111 §5.2.2.2: with must-revalidate the stale windows do not extend retention',
      headers: { 'cache-control': 'max-age=60, must-revalidate, stale-if-error=300' },
      until: T0 + 50 * SECOND,
    },
    {
      name: 'RFC 9111 §4.3: a response with a validator is kept past staleness so it can be revalidated',
      headers: { 'cache-control': 'max-age=60, must-revalidate', etag: '"v1"' },
      keepMs: HOUR,
      until: T0 + 50 * SECOND + HOUR,
    },
    {
      name: 'RFC 9111 §4.3: Last-Modified is a validator worth keeping a response for',
      headers: { 'cache-control': 'max-age=60, stale-if-error=300', 'last-modified': httpDate(T0 - DAY) },
      keepMs: MINUTE,
      until: T0 + 350 * SECOND,
    },
  ]
  for (const c of retain) {
    it(c.name, () => {
      // Age: 10 on arrival at T0, so it went stale 50 s after arriving
      assert.equal(retainUntil(storedFrom({ headers: { age: '10', ...c.headers } }), c.keepMs ?? 0), c.until)
    })
  }
})

describe('decide', () => {
  type Expected =
    | { kind: 'fresh' | 'stale-allowed' | 'stale-while-revalidate'; ageMs?: number; ttlMs?: number }
    | {
        kind: 'revalidate'
        reason: 'stale' | 'request'
        staleIfError?: boolean
        ageMs?: number
        ttlMs?: number
      }
  const cases: {
    name: string
    /** Response header fields as received at T0 (Date: T0 unless given). */
    stored: Headers
    request?: { cacheControl?: string; pragma?: string }
    now: number
    expected: Expected
  }[] = [
    {
      name: 'RFC 9111 §4.2: a response younger than its lifetime is served fresh',
      stored: { 'cache-control': 'max-age=60' },
      now: T0 + 30 * SECOND,
      expected: { kind: 'fresh', ageMs: 30 * SECOND, ttlMs: 30 * SECOND },
    },
    {
      name: 'RFC 9111 §4.2: a response is stale once its age reaches its lifetime',
      stored: { 'cache-control': 'max-age=60' },
      now: T0 + 60 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false, ttlMs: 0 },
    },
    {
      name: 'RFC 9111 §4.2: a stale response is revalidated',
      stored: { 'cache-control': 'max-age=60' },
      now: T0 + 61 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false, ttlMs: -SECOND },
    },
    {
      name: 'RFC 9111 §4.2.3: a received Age counts toward staleness',
      stored: { 'cache-control': 'max-age=60', age: '50' },
      now: T0 + 20 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', ageMs: 70 * SECOND },
    },
    {
      name: 'RFC 9111 §4.2.1: an invalid Expires response is never served without revalidation',
      stored: { expires: '0' },
      now: T0,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §4.2.2: a heuristically fresh response is served fresh',
      stored: { 'last-modified': httpDate(T0 - 10 * HOUR) },
      now: T0 + 59 * MINUTE,
      expected: { kind: 'fresh', ttlMs: MINUTE },
    },
    {
      name: 'RFC 9111 §5.2.1.1: a request max-age below the current age asks the origin',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-age=10' },
      now: T0 + 30 * SECOND,
      expected: { kind: 'revalidate', reason: 'request' },
    },
    {
      name: 'RFC 9111 §5.2.1.1: a request max-age at or above the current age accepts a fresh response',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-age=30' },
      now: T0 + 30 * SECOND,
      expected: { kind: 'fresh' },
    },
    {
      name: 'RFC 9111 §5.2.1.1: a request max-age=0 refuses any response with age',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-age=0' },
      now: T0 + SECOND,
      expected: { kind: 'revalidate', reason: 'request' },
    },
    {
      name: 'RFC 9111 §5.2.1.2: a bare max-stale accepts a stale response however stale',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-stale' },
      now: T0 + DAY,
      expected: { kind: 'stale-allowed', ttlMs: 60 * SECOND - DAY },
    },
    {
      name: 'RFC 9111 §5.2.1.2: max-stale=30 accepts a response stale by 20 s',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-stale=30' },
      now: T0 + 80 * SECOND,
      expected: { kind: 'stale-allowed' },
    },
    {
      name: 'RFC 9111 §5.2.1.2: max-stale=30 refuses a response stale by 40 s',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-stale=30' },
      now: T0 + 100 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §5.2.1.3: min-fresh refuses a response fresh for less than asked',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'min-fresh=40' },
      now: T0 + 30 * SECOND,
      expected: { kind: 'revalidate', reason: 'request' },
    },
    {
      name: 'RFC 9111 §5.2.1.3: min-fresh accepts a response fresh for at least as long as asked',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'min-fresh=30' },
      now: T0 + 30 * SECOND,
      expected: { kind: 'fresh' },
    },
    {
      name: 'RFC 9111 §5.2.1.4: a request no-cache revalidates even a fresh response',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'no-cache' },
      now: T0 + SECOND,
      expected: { kind: 'revalidate', reason: 'request' },
    },
    {
      name: 'RFC 9111 §5.2.1.4: a fresh response may still stand in if revalidation for a no-cache request fails',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'no-cache' },
      now: T0 + SECOND,
      expected: { kind: 'revalidate', reason: 'request', staleIfError: true },
    },
    {
      name: 'RFC 9111 §5.4: Pragma: no-cache without Cache-Control revalidates a fresh response',
      stored: { 'cache-control': 'max-age=60' },
      request: { pragma: 'no-cache' },
      now: T0 + SECOND,
      expected: { kind: 'revalidate', reason: 'request' },
    },
    {
      name: 'RFC 9111 §5.4: Pragma: no-cache beside a request Cache-Control is ignored',
      stored: { 'cache-control': 'max-age=60' },
      request: { cacheControl: 'max-age=3600', pragma: 'no-cache' },
      now: T0 + SECOND,
      expected: { kind: 'fresh' },
    },
    {
      name: 'RFC 9111 §5.2.2.2: must-revalidate forbids serving stale, even to max-stale',
      stored: { 'cache-control': 'max-age=60, must-revalidate' },
      request: { cacheControl: 'max-stale' },
      now: T0 + 61 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §5.2.2.2: must-revalidate leaves a fresh response fresh',
      stored: { 'cache-control': 'max-age=60, must-revalidate' },
      now: T0 + 59 * SECOND,
      expected: { kind: 'fresh' },
    },
    {
      name: 'RFC 9111 §5.2.2.8: proxy-revalidate forbids a shared cache serving stale',
      stored: { 'cache-control': 'max-age=60, proxy-revalidate' },
      request: { cacheControl: 'max-stale' },
      now: T0 + 61 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §5.2.2.10: s-maxage forbids a shared cache serving stale',
      stored: { 'cache-control': 's-maxage=60' },
      request: { cacheControl: 'max-stale' },
      now: T0 + 61 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §5.2.2.4: an unqualified no-cache response is revalidated even when fresh',
      stored: { 'cache-control': 'no-cache, max-age=60' },
      now: T0 + SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §5.2.2.4: an unqualified no-cache response is not served when revalidation fails',
      stored: { 'cache-control': 'no-cache, max-age=60' },
      now: T0 + SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false },
    },
    {
      name: 'RFC 9111 §5.2.2.4: a no-cache response is revalidated even for a max-stale request',
      stored: { 'cache-control': 'no-cache' },
      request: { cacheControl: 'max-stale' },
      now: T0 + HOUR,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 9111 §5.2.2.4: a qualified no-cache response is served fresh (the named fields are withheld)',
      stored: { 'cache-control': 'no-cache="set-cookie", max-age=60' },
      now: T0 + SECOND,
      expected: { kind: 'fresh' },
    },
    {
      name: 'RFC 5861 §3: serves stale inside the stale-while-revalidate window',
      stored: { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
      now: T0 + 80 * SECOND,
      expected: { kind: 'stale-while-revalidate', ageMs: 80 * SECOND, ttlMs: -20 * SECOND },
    },
    {
      name: 'RFC 5861 §3: serves stale at the last instant of the stale-while-revalidate window',
      stored: { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
      now: T0 + 90 * SECOND,
      expected: { kind: 'stale-while-revalidate' },
    },
    {
      name: 'RFC 5861 §3: revalidates past the stale-while-revalidate window',
      stored: { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
      now: T0 + 91 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 5861 §3: without stale-while-revalidate a response that just went stale is revalidated',
      stored: { 'cache-control': 'max-age=60' },
      now: T0 + 60 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 5861 §3: must-revalidate overrides stale-while-revalidate',
      stored: { 'cache-control': 'max-age=60, must-revalidate, stale-while-revalidate=30' },
      now: T0 + 70 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
    {
      name: 'RFC 5861 §3: a request no-cache overrides stale-while-revalidate',
      stored: { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
      request: { cacheControl: 'no-cache' },
      now: T0 + 70 * SECOND,
      expected: { kind: 'revalidate', reason: 'request' },
    },
    {
      name: 'RFC 5861 §4: stale-if-error allows a stale answer when revalidation fails inside the window',
      stored: { 'cache-control': 'max-age=60, stale-if-error=300' },
      now: T0 + 120 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: true },
    },
    {
      name: 'RFC 5861 §4: stale-if-error allows a stale answer at the last instant of the window',
      stored: { 'cache-control': 'max-age=60, stale-if-error=300' },
      now: T0 + 360 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: true },
    },
    {
      name: 'RFC 5861 §4: past the stale-if-error window a failure is not answered from cache',
      stored: { 'cache-control': 'max-age=60, stale-if-error=300' },
      now: T0 + 361 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false },
    },
    {
      name: 'RFC 5861 §4: without stale-if-error a failure is not answered with a stale response',
      stored: { 'cache-control': 'max-age=60' },
      now: T0 + 61 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false },
    },
    {
      name: 'RFC 5861 §4: must-revalidate overrides stale-if-error',
      stored: { 'cache-control': 'max-age=60, must-revalidate, stale-if-error=300' },
      now: T0 + 120 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false },
    },
    {
      name: 'RFC 5861 §4: s-maxage overrides stale-if-error',
      stored: { 'cache-control': 's-maxage=60, stale-if-error=300' },
      now: T0 + 120 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale', staleIfError: false },
    },
    {
      name: 'RFC 5861 §4: stale-if-error also covers a request that asked for revalidation',
      stored: { 'cache-control': 'max-age=60, stale-if-error=300' },
      request: { cacheControl: 'no-cache' },
      now: T0 + 120 * SECOND,
      expected: { kind: 'revalidate', reason: 'request', staleIfError: true },
    },
    {
      name: 'RFC 9213 §2.1: stale windows come from the targeted field when one governs',
      stored: {
        'cache-control': 'max-age=60, stale-while-revalidate=600',
        'cdn-cache-control': 'max-age=60',
      },
      now: T0 + 70 * SECOND,
      expected: { kind: 'revalidate', reason: 'stale' },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const stored = storedFrom({ headers: c.stored })
      const verdict: Verdict = decide(stored, requestWith(c.request?.cacheControl, c.request?.pragma), c.now)
      assert.deepEqual({ ...verdict, ...c.expected }, verdict)
    })
  }
})
