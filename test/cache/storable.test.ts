import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseCacheControl } from '../../src/cache/cache-control.ts'
import { isUnderstoodStatus, type NotStorableReason, notStorableReason } from '../../src/cache/storable.ts'
import { requestWith } from './fixtures.ts'

interface Case {
  name: string
  status?: number
  cacheControl?: string
  hasExpires?: boolean
  hasSetCookie?: boolean
  varyStar?: boolean
  requestCacheControl?: string
  authorization?: boolean
  storeSetCookie?: boolean
  partial?: boolean
  expected: NotStorableReason | undefined
}

function reasonFor(c: Case): NotStorableReason | undefined {
  return notStorableReason({
    status: c.status ?? 200,
    directives: parseCacheControl(c.cacheControl),
    hasExpires: c.hasExpires ?? false,
    hasSetCookie: c.hasSetCookie ?? false,
    varyStar: c.varyStar ?? false,
    request: requestWith(c.requestCacheControl),
    requestHasAuthorization: c.authorization ?? false,
    storeSetCookie: c.storeSetCookie ?? false,
    partial: c.partial ?? false,
  })
}

describe('isUnderstoodStatus', () => {
  it('RFC 9111 §3: final status codes edgecache understands', () => {
    for (const status of [200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501]) {
      assert.equal(isUnderstoodStatus(status), true, String(status))
    }
  })
  it('RFC 9111 §3: 206 is not understood: edgecache stores whole representations only', () => {
    assert.equal(isUnderstoodStatus(206), false)
  })
  it('RFC 9111 §5.2.2.3: interim, unregistered codes and 304 are not understood', () => {
    for (const status of [100, 103, 299, 304, 418, 499, 599]) {
      assert.equal(isUnderstoodStatus(status), false, String(status))
    }
  })
  it('RFC 9110 §15: registered final codes, server errors among them, are understood', () => {
    for (const status of [200, 201, 404, 429, 500, 502, 503, 504]) {
      assert.equal(isUnderstoodStatus(status), true, String(status))
    }
  })
})

describe('notStorableReason', () => {
  const cases: Case[] = [
    {
      name: 'RFC 9111 §3: a 200 with max-age is storable',
      cacheControl: 'max-age=60',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3: a heuristically cacheable status is storable without explicit freshness',
      expected: undefined,
    },
    ...[203, 204, 300, 301, 308, 404, 405, 410, 414, 451, 501].map(
      (status): Case => ({
        name: `RFC 9111 §3: ${status} is storable without explicit freshness (heuristically cacheable)`,
        status,
        expected: undefined,
      }),
    ),
    ...[302, 303, 307].map(
      (status): Case => ({
        name: `RFC 9111 §3: ${status} without explicit freshness is not stored`,
        status,
        expected: 'no-freshness',
      }),
    ),
    {
      name: 'RFC 9111 §3: a 302 with max-age is storable',
      status: 302,
      cacheControl: 'max-age=60',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3: a 307 with s-maxage is storable',
      status: 307,
      cacheControl: 's-maxage=60',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3: a 302 with Expires is storable',
      status: 302,
      hasExpires: true,
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3: a 302 with public is storable',
      status: 302,
      cacheControl: 'public',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3: a 206 is not stored (edgecache stores whole responses)',
      status: 206,
      cacheControl: 'max-age=60',
      expected: 'status',
    },
    {
      name: 'RFC 9111 §3.3: a 206 to a range request of a route that keeps parts is storable',
      status: 206,
      cacheControl: 'max-age=60',
      partial: true,
      expected: undefined,
    },
    {
      name: 'RFC 9110 §15.3.7: a part is heuristically cacheable, like a 200',
      status: 206,
      partial: true,
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3.3: a part is still subject to no-store',
      status: 206,
      cacheControl: 'no-store, max-age=60',
      partial: true,
      expected: 'no-store',
    },
    ...[299, 400, 499, 500, 502, 503, 504, 599].map((status) => ({
      name: `RFC 9111 §3: a final ${status} with explicit freshness is storable, known or not`,
      status,
      cacheControl: 'max-age=60',
      expected: undefined,
    })),
    ...[299, 500, 599].map((status) => ({
      name: `RFC 9111 §4.2.2: a ${status} without explicit freshness is not (heuristics are for listed codes)`,
      status,
      expected: 'no-freshness' as const,
    })),
    {
      name: 'RFC 9111 §4.2.2: public allows heuristic freshness, so even an unknown status is storable',
      status: 299,
      cacheControl: 'public',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3: a 304 is never stored',
      status: 304,
      cacheControl: 'max-age=60',
      expected: 'status',
    },
    {
      name: 'RFC 9110 §15.2: an interim status is not final',
      status: 103,
      cacheControl: 'max-age=60',
      expected: 'status',
    },
    {
      name: 'RFC 9111 §5.2.2.5: no-store forbids storing',
      cacheControl: 'no-store, max-age=60',
      expected: 'no-store',
    },
    {
      name: 'RFC 9111 §5.2.2.5: no-store is recognised case-insensitively',
      cacheControl: 'No-Store',
      expected: 'no-store',
    },
    {
      name: 'RFC 9111 §5.2.1.5: a request no-store forbids storing the response',
      cacheControl: 'max-age=60, public',
      requestCacheControl: 'no-store',
      expected: 'request-no-store',
    },
    {
      name: 'RFC 9111 §5.2.2.7: an unqualified private response is not stored by a shared cache',
      cacheControl: 'private, max-age=60',
      expected: 'private',
    },
    {
      name: 'RFC 9111 §5.2.2.7: private with an empty field list counts as unqualified',
      cacheControl: 'private="", max-age=60',
      expected: 'private',
    },
    {
      name: 'RFC 9111 §5.2.2.7: a qualified private response is stored (without the named fields)',
      cacheControl: 'private="set-cookie", max-age=60',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3.5: a response to a request with Authorization is not stored by default',
      cacheControl: 'max-age=60',
      authorization: true,
      expected: 'authorization',
    },
    {
      name: 'RFC 9111 §3.5: public allows storing a response to a request with Authorization',
      cacheControl: 'public, max-age=60',
      authorization: true,
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3.5: s-maxage allows storing a response to a request with Authorization',
      cacheControl: 's-maxage=60',
      authorization: true,
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3.5: must-revalidate allows storing a response to a request with Authorization',
      cacheControl: 'max-age=60, must-revalidate',
      authorization: true,
      expected: undefined,
    },
    {
      name: 'RFC 9111 §3.5: proxy-revalidate alone does not allow storing a response to a request with Authorization',
      cacheControl: 'max-age=60, proxy-revalidate',
      authorization: true,
      expected: 'authorization',
    },
    {
      name: 'RFC 9111 §5.2.2.3: must-understand overrides no-store for an understood status',
      cacheControl: 'must-understand, no-store, max-age=60',
      expected: undefined,
    },
    {
      name: 'RFC 9111 §5.2.2.3: must-understand with a status edgecache does not understand is not stored',
      status: 299,
      cacheControl: 'must-understand, no-store, max-age=60',
      expected: 'must-understand',
    },
    {
      name: 'RFC 9111 §5.2.2.3: must-understand with a 206 is not stored',
      status: 206,
      cacheControl: 'must-understand, max-age=60',
      expected: 'must-understand',
    },
    {
      name: 'RFC 9111 §5.2.2.3: must-understand with a 206 kept as a part is stored (parts are understood)',
      status: 206,
      cacheControl: 'must-understand, no-store, max-age=60',
      partial: true,
      expected: undefined,
    },
    {
      name: 'RFC 9111 §5.2.2.3: must-understand does not override private',
      cacheControl: 'must-understand, private, max-age=60',
      expected: 'private',
    },
    {
      name: 'RFC 9111 §4.1: a response with Vary: * is not stored (it can never be selected)',
      cacheControl: 'max-age=60',
      varyStar: true,
      expected: 'vary-star',
    },
    {
      name: 'edgecache policy: a response with Set-Cookie is not stored by default',
      cacheControl: 'public, max-age=60',
      hasSetCookie: true,
      expected: 'set-cookie',
    },
    {
      name: 'edgecache policy: a response with Set-Cookie is stored when configured to',
      cacheControl: 'public, max-age=60',
      hasSetCookie: true,
      storeSetCookie: true,
      expected: undefined,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(reasonFor(c), c.expected)
    })
  }
})
