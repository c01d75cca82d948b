import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decide, softPurged } from '../../src/cache/freshness.ts'
import {
  conditionalFields,
  hasValidator,
  refreshDue,
  updateFromNotModified,
} from '../../src/cache/revalidate.ts'
import type { StoredResponse } from '../../src/cache/stored-response.ts'
import {
  DAY,
  type Headers,
  httpDate,
  MINUTE,
  OPTIONS,
  requestWith,
  SECOND,
  storedFrom,
  T0,
} from './fixtures.ts'

describe('hasValidator and conditionalFields', () => {
  const cases: { name: string; stored: Headers; validator: boolean; fields: Record<string, string> }[] = [
    {
      name: 'RFC 9111 §4.3.1: an ETag is sent back as If-None-Match',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      validator: true,
      fields: { 'if-none-match': '"v1"' },
    },
    {
      name: 'RFC 9111 §4.3.1: a weak ETag is sent back as it was received',
      stored: { 'cache-control': 'max-age=60', etag: 'W/"v1"' },
      validator: true,
      fields: { 'if-none-match': 'W/"v1"' },
    },
    {
      name: 'RFC 9111 §4.3.1: Last-Modified is sent back as If-Modified-Since',
      stored: { 'cache-control': 'max-age=60', 'last-modified': httpDate(T0 - DAY) },
      validator: true,
      fields: { 'if-modified-since': httpDate(T0 - DAY) },
    },
    {
      name: 'RFC 9111 §4.3.1: with both validators both conditional fields are sent',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"', 'last-modified': httpDate(T0 - DAY) },
      validator: true,
      fields: { 'if-none-match': '"v1"', 'if-modified-since': httpDate(T0 - DAY) },
    },
    {
      name: 'RFC 9110 §8.8.2: an invalid Last-Modified is no validator and is not sent back',
      stored: { 'cache-control': 'max-age=60', 'last-modified': 'Sun, 06 Nov 1994 08:49:37 PST' },
      validator: false,
      fields: {},
    },
    {
      name: 'RFC 9111 §4.3.1: without a validator no conditional field is sent',
      stored: { 'cache-control': 'max-age=60' },
      validator: false,
      fields: {},
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const stored = storedFrom({ headers: c.stored })
      assert.equal(hasValidator(stored), c.validator)
      assert.deepEqual(conditionalFields(stored), c.fields)
    })
  }
})

describe('updateFromNotModified', () => {
  /** Revalidated two minutes after it was stored: request at T0+120 s, 304 at T0+121 s. */
  const requestTime = T0 + 120 * SECOND
  const responseTime = T0 + 121 * SECOND

  const cases: {
    name: string
    stored: Headers
    notModified: Headers
    /** undefined: the 304 does not select the stored response. */
    expected: Partial<StoredResponse> | undefined
    /** Verdict for a plain request at this instant after the update. */
    afterwards?: { now: number; kind: string }
  }[] = [
    {
      name: 'RFC 9111 §3.2: a 304 replaces stored fields and adds new ones',
      stored: {
        'cache-control': 'max-age=60',
        etag: '"v1"',
        'content-type': 'text/html',
        'x-version': '1',
      },
      notModified: {
        date: httpDate(requestTime),
        'cache-control': 'max-age=300',
        etag: '"v1"',
        'x-version': '2',
        'x-new': 'yes',
      },
      expected: {
        headers: {
          date: httpDate(requestTime),
          'cache-control': 'max-age=300',
          etag: '"v1"',
          'content-type': 'text/html',
          'x-version': '2',
          'x-new': 'yes',
        },
      },
    },
    {
      name: 'RFC 9111 §3.2: a 304 does not replace the stored Content-Length',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"', 'content-length': '1234' },
      notModified: { date: httpDate(requestTime), etag: '"v1"', 'content-length': '0' },
      expected: {
        headers: {
          date: httpDate(requestTime),
          'cache-control': 'max-age=60',
          etag: '"v1"',
          'content-length': '1234',
        },
      },
    },
    {
      name: 'RFC 9111 §3.2: a 304 does not replace fields the stored body depends on (Content-Encoding)',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"', 'content-encoding': 'gzip' },
      notModified: { date: httpDate(requestTime), etag: '"v1"', 'content-encoding': 'identity' },
      expected: {
        headers: {
          date: httpDate(requestTime),
          'cache-control': 'max-age=60',
          etag: '"v1"',
          'content-encoding': 'gzip',
        },
      },
    },
    {
      name: 'RFC 9111 §4.3.4: freshness is recomputed from the updated fields and the new times',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), 'cache-control': 'max-age=300', etag: '"v1"' },
      expected: { requestTime, responseTime, lifetimeMs: 300 * SECOND, initialAgeMs: SECOND },
      afterwards: { now: responseTime + 200 * SECOND, kind: 'fresh' },
    },
    {
      name: 'RFC 9111 §4.3.4: a 304 without Cache-Control renews the stored lifetime',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), etag: '"v1"' },
      expected: { lifetimeMs: MINUTE },
      afterwards: { now: responseTime + 30 * SECOND, kind: 'fresh' },
    },
    {
      name: 'RFC 9110 §6.6.1: a 304 without Date is dated on arrival, so the renewed response is fresh',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      notModified: { etag: '"v1"' },
      expected: { lifetimeMs: MINUTE, initialAgeMs: SECOND },
      afterwards: { now: responseTime + 30 * SECOND, kind: 'fresh' },
    },
    {
      name: 'RFC 9111 §4.2.3: the Age of a 304 counts toward the renewed age, and is not stored',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), etag: '"v1"', age: '20' },
      expected: {
        initialAgeMs: 21 * SECOND,
        headers: { date: httpDate(requestTime), 'cache-control': 'max-age=60', etag: '"v1"' },
      },
    },
    {
      name: 'RFC 9111 §4.3.4: a 304 with a different strong ETag does not select the stored response',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), etag: '"v2"' },
      expected: undefined,
    },
    {
      name: 'RFC 9111 §4.3.4: a 304 with a different weak ETag does not select the stored response',
      stored: { 'cache-control': 'max-age=60', etag: 'W/"v1"' },
      notModified: { date: httpDate(requestTime), etag: 'W/"v2"' },
      expected: undefined,
    },
    {
      name: 'RFC 9111 §4.3.4: a 304 with the same weak ETag selects the stored response',
      stored: { 'cache-control': 'max-age=60', etag: 'W/"v1"' },
      notModified: { date: httpDate(requestTime), etag: 'W/"v1"' },
      expected: { lifetimeMs: MINUTE },
    },
    {
      name: 'RFC 9110 §8.8.3: a weak stored ETag (a body the cache coded) stays weak after a 304 with the strong tag',
      stored: { 'cache-control': 'max-age=60', etag: 'W/"v1"', 'content-encoding': 'br' },
      notModified: { date: httpDate(requestTime), etag: '"v1"' },
      expected: {
        headers: {
          date: httpDate(requestTime),
          'cache-control': 'max-age=60',
          etag: 'W/"v1"',
          'content-encoding': 'br',
        },
      },
    },
    {
      name: 'RFC 9111 §4.3.4: a 304 without a validator updates the only stored response',
      stored: { 'cache-control': 'max-age=60', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), 'cache-control': 'max-age=120' },
      expected: { lifetimeMs: 120 * SECOND },
    },
    {
      name: 'RFC 9111 §4.3.4: a 304 can make a fresh response must-revalidate',
      stored: { 'cache-control': 'max-age=60, stale-if-error=600', etag: '"v1"' },
      notModified: {
        date: httpDate(requestTime),
        'cache-control': 'max-age=60, must-revalidate',
        etag: '"v1"',
      },
      expected: { mustRevalidate: true, staleIfErrorMs: 0 },
    },
    {
      name: 'RFC 9111 §4.2.2: a heuristic lifetime is recomputed from the new Date',
      stored: { etag: '"v1"', 'last-modified': httpDate(T0 - 10 * 60 * MINUTE) },
      notModified: { date: httpDate(requestTime), etag: '"v1"' },
      // ten hours and two minutes since Last-Modified at the new Date: 10% of it
      expected: { heuristic: true, lifetimeMs: 60 * MINUTE + 12 * SECOND },
    },
    {
      name: 'RFC 9111 §3.1, §5.2.2.7: fields a qualified private names are not stored from a 304 either',
      stored: { 'cache-control': 'private="x-user", max-age=60', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), etag: '"v1"', 'x-user': 'ann', 'x-other': 'ok' },
      expected: {
        headers: {
          date: httpDate(requestTime),
          'cache-control': 'private="x-user", max-age=60',
          etag: '"v1"',
          'x-other': 'ok',
        },
      },
    },
    {
      name: 'RFC 9213 §2.1: the stored targeted field governs again after a 304 without one',
      stored: { 'cdn-cache-control': 'max-age=600', 'cache-control': 'max-age=10', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), 'cache-control': 'max-age=10', etag: '"v1"' },
      expected: { lifetimeMs: 600 * SECOND, targeted: 'max-age=600' },
    },
    {
      name: 'RFC 9213 §2.1: a targeted field in the 304 replaces the stored one but is not stored as a header',
      stored: { 'cdn-cache-control': 'max-age=600', 'cache-control': 'max-age=10', etag: '"v1"' },
      notModified: { date: httpDate(requestTime), 'cdn-cache-control': 'max-age=30', etag: '"v1"' },
      expected: {
        lifetimeMs: 30 * SECOND,
        targeted: 'max-age=30',
        headers: { date: httpDate(requestTime), 'cache-control': 'max-age=10', etag: '"v1"' },
      },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const stored = storedFrom({ headers: c.stored })
      const refreshed = updateFromNotModified(stored, c.notModified, requestTime, responseTime, OPTIONS)
      if (c.expected === undefined) {
        assert.equal(refreshed, undefined)
        return
      }
      assert.ok(refreshed !== undefined, 'the 304 should select the stored response')
      assert.equal(refreshed.notStorable, undefined)
      const updated = refreshed.response
      const { headers, ...rest } = c.expected
      if (headers !== undefined) assert.deepEqual(updated.headers, headers)
      assert.deepEqual({ ...updated, ...rest }, updated)
      assert.equal(updated.bodyLength, stored.bodyLength)
      assert.equal(updated.status, stored.status)
      if (c.afterwards !== undefined)
        assert.equal(decide(updated, requestWith(), c.afterwards.now).kind, c.afterwards.kind)
    })
  }
})

describe('refreshDue', () => {
  const none = requestWith()
  /** Whether a stale answer at `at` starts a background refresh, with a 1 s interval. */
  const due = (stored: StoredResponse, at: number, intervalMs = SECOND, invalidatedAt?: number) => {
    const verdict = decide(stored, none, at)
    assert.equal(verdict.kind, 'stale-while-revalidate')
    return refreshDue(stored, verdict.ttlMs, at, intervalMs, invalidatedAt)
  }
  const arrivedStale = storedFrom({
    headers: { 'cache-control': 'max-age=1, stale-while-revalidate=86400', age: '2' },
  })
  const cases: {
    name: string
    stored: StoredResponse
    at: number
    intervalMs?: number
    invalidatedAt?: number
    due: boolean
  }[] = [
    {
      name: 'RFC 5861 §3: a response that was fresh once is refreshed at its first stale answer',
      stored: storedFrom({ headers: { 'cache-control': 'max-age=60, stale-while-revalidate=600' } }),
      at: T0 + 61 * SECOND,
      due: true,
    },
    {
      name: 'one that arrived stale (Age past max-age) is not refreshed within the interval of its arrival',
      stored: arrivedStale,
      at: T0 + 999,
      due: false,
    },
    {
      name: 'it is refreshed once the interval has passed',
      stored: arrivedStale,
      at: T0 + SECOND,
      due: true,
    },
    {
      name: 'an interval of 0 refreshes at every stale answer',
      stored: arrivedStale,
      at: T0,
      intervalMs: 0,
      due: true,
    },
    {
      name: 'one a soft purge made stale is refreshed at once, the purge asking for a new copy',
      stored: softPurged(arrivedStale, T0),
      at: T0 + 1,
      invalidatedAt: T0,
      due: true,
    },
    {
      name: 'max-age=0 counts as arriving stale',
      stored: storedFrom({ headers: { 'cache-control': 'max-age=0, stale-while-revalidate=60' } }),
      at: T0 + 500,
      due: false,
    },
    {
      name: 'a stale window closing within the interval is refreshed at once, before it closes',
      stored: storedFrom({ headers: { 'cache-control': 'max-age=0, stale-while-revalidate=1' } }),
      at: T0 + 500,
      due: true,
    },
  ]
  for (const c of cases) {
    it(c.name, () => assert.equal(due(c.stored, c.at, c.intervalMs, c.invalidatedAt), c.due))
  }
})

describe('updateFromNotModified: what a 304 may not leave in the store', () => {
  const requestTime = T0 + 120 * SECOND
  const responseTime = T0 + 121 * SECOND
  const stored = { 'cache-control': 'max-age=60', etag: '"v1"', 'content-type': 'text/html' }
  const refresh = (notModified: Headers, options = OPTIONS) =>
    updateFromNotModified(storedFrom({ headers: stored }), notModified, requestTime, responseTime, options)

  it("leaves a 304's Set-Cookie out of the stored copy: it is the asking client's, not every later one's", () => {
    const refreshed = refresh({ etag: '"v1"', 'cache-control': 'max-age=600', 'set-cookie': 'session=alice' })
    assert.ok(refreshed !== undefined)
    assert.equal(refreshed.response.headers['set-cookie'], undefined)
    assert.equal(refreshed.response.lifetimeMs, 600 * SECOND)
    assert.equal(refreshed.notStorable, undefined)
  })

  it("stores a 304's Set-Cookie when responses with one are stored (cache.storeSetCookie)", () => {
    const refreshed = refresh({ etag: '"v1"', 'set-cookie': 'a=1' }, { ...OPTIONS, storeSetCookie: true })
    assert.equal(refreshed?.response.headers['set-cookie'], 'a=1')
  })

  const forbidding: { name: string; notModified: Headers; reason: string }[] = [
    {
      name: 'RFC 9111 §5.2.2.7: private',
      notModified: { etag: '"v1"', 'cache-control': 'private, max-age=60' },
      reason: 'private',
    },
    {
      name: 'RFC 9111 §5.2.2.5: no-store',
      notModified: { etag: '"v1"', 'cache-control': 'no-store, max-age=60' },
      reason: 'no-store',
    },
    { name: 'RFC 9111 §4.1: Vary: *', notModified: { etag: '"v1"', vary: '*' }, reason: 'vary-star' },
  ]
  for (const c of forbidding) {
    it(`${c.name} in a 304 says the refreshed response may no longer be stored`, () => {
      const refreshed = refresh(c.notModified)
      assert.ok(refreshed !== undefined, 'the 304 still selects the stored response')
      assert.equal(refreshed.notStorable, c.reason)
    })
  }
})
