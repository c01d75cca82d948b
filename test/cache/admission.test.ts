import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Admission, admit, storedHeaders } from '../../src/cache/admission.ts'
import type { NotStorableReason } from '../../src/cache/storable.ts'
import type { StoredResponse } from '../../src/cache/stored-response.ts'
import { type Headers, HOUR, httpDate, MINUTE, OPTIONS, requestWith, SECOND, T0 } from './fixtures.ts'

interface Case {
  name: string
  status?: number
  headers: Headers
  request?: { cacheControl?: string; authorization?: boolean }
  requestTime?: number
  responseTime?: number
  bodyLength?: number
  /** The reason it is not stored, or what the stored response must contain. */
  expected: NotStorableReason | Partial<StoredResponse>
}

function admitCase(c: Case): Admission {
  return admit(
    {
      status: c.status ?? 200,
      headers: c.headers,
      requestTime: c.requestTime ?? T0,
      responseTime: c.responseTime ?? c.requestTime ?? T0,
    },
    {
      directives: requestWith(c.request?.cacheControl),
      hasAuthorization: c.request?.authorization ?? false,
    },
    c.bodyLength ?? 0,
    OPTIONS,
  )
}

describe('admit', () => {
  const cases: Case[] = [
    {
      name: 'RFC 9111 §3: a storable response is stored with its status, fields, times and body length',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60', 'content-type': 'text/plain' },
      requestTime: T0 - SECOND,
      responseTime: T0,
      bodyLength: 42,
      expected: {
        status: 200,
        headers: { date: httpDate(T0), 'cache-control': 'max-age=60', 'content-type': 'text/plain' },
        requestTime: T0 - SECOND,
        responseTime: T0,
        initialAgeMs: SECOND,
        lifetimeMs: MINUTE,
        heuristic: false,
        targeted: undefined,
        vary: undefined,
        bodyLength: 42,
      },
    },
    {
      name: 'RFC 9110 §6.6.1: a response without Date is stored with one for its arrival time',
      headers: { 'cache-control': 'max-age=60' },
      responseTime: T0,
      expected: { headers: { 'cache-control': 'max-age=60', date: httpDate(T0) } },
    },
    {
      name: 'RFC 9111 §5.1: Age is not stored (it is recomputed on every answer) but counts toward age',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60', age: '20' },
      expected: { headers: { date: httpDate(T0), 'cache-control': 'max-age=60' }, initialAgeMs: 20 * SECOND },
    },
    {
      name: 'RFC 9111 §5.2.2.7: the fields a qualified private names are not stored',
      headers: {
        date: httpDate(T0),
        'cache-control': 'private="X-Plan, X-User", max-age=60',
        'x-plan': 'gold',
        'x-user': 'ann',
        'x-other': 'kept',
      },
      expected: {
        headers: {
          date: httpDate(T0),
          'cache-control': 'private="X-Plan, X-User", max-age=60',
          'x-other': 'kept',
        },
      },
    },
    {
      name: 'RFC 9111 §4.1: the selecting fields of Vary are stored lowercased and sorted',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60', vary: 'User-Agent, Accept-Encoding' },
      expected: { vary: ['accept-encoding', 'user-agent'] },
    },
    {
      name: 'RFC 9111 §5.2.2.4: a no-cache response is stored, to be revalidated before each reuse',
      status: 302,
      headers: { date: httpDate(T0), 'cache-control': 'no-cache', etag: '"v1"' },
      expected: { noCache: true, lifetimeMs: 0 },
    },
    {
      name: "RFC 9213 §2.1: edgecache's own field governs; targeted fields are not stored but its value is kept",
      headers: {
        date: httpDate(T0),
        'edgecache-cache-control': 'max-age=900',
        'cdn-cache-control': 'max-age=600',
        'cache-control': 'max-age=10',
      },
      expected: {
        headers: { date: httpDate(T0), 'cache-control': 'max-age=10' },
        lifetimeMs: 900 * SECOND,
        targeted: 'max-age=900',
      },
    },
    {
      name: 'RFC 9213 §2.1: CDN-Cache-Control governs over Cache-Control',
      headers: { date: httpDate(T0), 'cdn-cache-control': 'max-age=600', 'cache-control': 'max-age=10' },
      expected: { lifetimeMs: 600 * SECOND, targeted: 'max-age=600' },
    },
    {
      name: 'RFC 9213 §2.1: a targeted field allows storing what Cache-Control forbids',
      headers: {
        date: httpDate(T0),
        'cdn-cache-control': 'max-age=600',
        'cache-control': 'no-store, private',
      },
      expected: { lifetimeMs: 600 * SECOND },
    },
    {
      name: 'RFC 9213 §2.1: a targeted no-store forbids storing what Cache-Control allows',
      headers: {
        date: httpDate(T0),
        'cdn-cache-control': 'no-store',
        'cache-control': 'public, max-age=600',
      },
      expected: 'no-store',
    },
    {
      name: 'RFC 9213 §2.1: Expires is ignored when a targeted field governs',
      headers: { date: httpDate(T0), 'cdn-cache-control': 'public', expires: httpDate(T0 + HOUR) },
      expected: { lifetimeMs: 0, targeted: 'public' },
    },
    {
      name: 'RFC 9213 §2.1: an empty targeted field falls back to the next one, whose value is kept',
      headers: {
        date: httpDate(T0),
        'edgecache-cache-control': '',
        'cdn-cache-control': 'max-age=600',
        'cache-control': 'max-age=10',
      },
      expected: { lifetimeMs: 600 * SECOND, targeted: 'max-age=600' },
    },
    {
      name: 'RFC 9213 §2.1: an empty targeted field falls back to Cache-Control and Expires',
      headers: { date: httpDate(T0), 'cdn-cache-control': '', expires: httpDate(T0 + HOUR) },
      expected: {
        lifetimeMs: HOUR,
        targeted: undefined,
        headers: { date: httpDate(T0), expires: httpDate(T0 + HOUR) },
      },
    },
    {
      name: 'RFC 9111 §3: a response that may not be stored says why',
      headers: { date: httpDate(T0), 'cache-control': 'no-store' },
      expected: 'no-store',
    },
    {
      name: 'RFC 9111 §5.2.1.5: a request no-store keeps the response out of the cache',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60' },
      request: { cacheControl: 'no-store' },
      expected: 'request-no-store',
    },
    {
      name: 'RFC 9111 §3.5: a response to a request with Authorization is not stored by default',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60' },
      request: { authorization: true },
      expected: 'authorization',
    },
    {
      name: 'RFC 9111 §3.5: a targeted s-maxage allows storing a response to a request with Authorization',
      headers: { date: httpDate(T0), 'cdn-cache-control': 's-maxage=60' },
      request: { authorization: true },
      expected: { lifetimeMs: MINUTE, mustRevalidate: true },
    },
    {
      name: 'RFC 9111 §4.1: a response with Vary: * is not stored',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60', vary: 'accept, *' },
      expected: 'vary-star',
    },
    {
      name: 'edgecache policy: a response with Set-Cookie is not stored by default',
      headers: { date: httpDate(T0), 'cache-control': 'max-age=60', 'set-cookie': 'a=1' },
      expected: 'set-cookie',
    },
    {
      name: 'RFC 9111 §3: a 303 without explicit freshness is not stored',
      status: 303,
      headers: { date: httpDate(T0), location: '/elsewhere' },
      expected: 'no-freshness',
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const admission = admitCase(c)
      if (typeof c.expected === 'string') {
        assert.deepEqual(admission, { storable: false, reason: c.expected })
        return
      }
      assert.ok(admission.storable, `not storable: ${admission.storable ? '' : admission.reason}`)
      assert.deepEqual({ ...admission.response, ...c.expected }, admission.response)
    })
  }
})

describe('storedHeaders', () => {
  it('RFC 9111 §3.1: keeps every field, unknown ones included, except those left out', () => {
    assert.deepEqual(
      storedHeaders({ 'x-unknown': 'a', age: '3', vary: ['a', 'b'], absent: undefined }, new Set(['age'])),
      { 'x-unknown': 'a', vary: ['a', 'b'] },
    )
  })
})

describe('consumed targeted fields (RFC 9213 §2.1)', () => {
  const origin = {
    status: 200,
    headers: { 'cdn-cache-control': 'max-age=30', 'edgecache-cache-control': 'max-age=90' },
    requestTime: T0,
    responseTime: T0,
  }
  const request = { directives: requestWith(undefined), hasAuthorization: false }
  const storedFields = (consumedFields: readonly string[] | undefined) => {
    const admission = admit(origin, request, 0, { ...OPTIONS, ...(consumedFields && { consumedFields }) })
    assert.ok(admission.storable)
    return Object.keys(admission.response.headers).sort()
  }

  it("edgecache's own field is consumed and CDN-Cache-Control kept for the client", () => {
    assert.deepEqual(storedFields(['edgecache-cache-control']), ['cdn-cache-control', 'date'])
  })

  it('consuming CDN-Cache-Control too keeps neither', () => {
    assert.deepEqual(storedFields(['edgecache-cache-control', 'cdn-cache-control']), ['date'])
  })

  it('without a list every targeted field is consumed', () => {
    assert.deepEqual(storedFields(undefined), ['date'])
  })
})
