/** Route policy over RFC 9111 freshness (edgecache policy, applied after the RFC computation). */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { admit } from '../../src/cache/admission.ts'
import { parseRequestDirectives } from '../../src/cache/request-directives.ts'

const T = Date.UTC(2026, 0, 1)
const options = {
  heuristicFraction: 0.1,
  maxHeuristicTtlMs: 86_400_000,
  targetedFields: ['edgecache-cache-control', 'cdn-cache-control'],
  storeSetCookie: false,
}
const request = { directives: parseRequestDirectives(undefined, undefined), hasAuthorization: false }

function lifetimeOf(headers: Record<string, string>, policy: Parameters<typeof admit>[4], status = 200) {
  const result = admit({ status, headers, requestTime: T, responseTime: T }, request, 0, options, policy)
  return result.storable ? result.response : result.reason
}

const cases: {
  name: string
  headers: Record<string, string>
  policy: Parameters<typeof admit>[4]
  status?: number
  expect: unknown
}[] = [
  {
    name: 'ttl applies when the response gives no lifetime',
    headers: {},
    policy: { ttlMs: 60_000 },
    expect: 60_000,
  },
  {
    name: 'ttl does not replace an explicit max-age',
    headers: { 'cache-control': 'max-age=10' },
    policy: { ttlMs: 60_000 },
    expect: 10_000,
  },
  {
    name: 'ttl does not replace Expires',
    headers: { date: new Date(T).toUTCString(), expires: new Date(T + 5_000).toUTCString() },
    policy: { ttlMs: 60_000 },
    expect: 5_000,
  },
  {
    name: 'ttl replaces a heuristic lifetime',
    headers: { 'last-modified': new Date(T - 1_000_000).toUTCString() },
    policy: { ttlMs: 60_000 },
    expect: 60_000,
  },
  {
    name: 'ttlOverride replaces max-age',
    headers: { 'cache-control': 'max-age=10' },
    policy: { ttlOverrideMs: 300_000 },
    expect: 300_000,
  },
  {
    name: 'maxTtl clamps a long max-age',
    headers: { 'cache-control': 'max-age=86400' },
    policy: { maxTtlMs: 60_000 },
    expect: 60_000,
  },
  {
    name: 'minTtl lifts a short max-age',
    headers: { 'cache-control': 'max-age=1' },
    policy: { minTtlMs: 30_000 },
    expect: 30_000,
  },
  {
    name: 'ttl makes a status without heuristic freshness storable',
    headers: {},
    policy: { ttlMs: 1_000 },
    status: 302,
    expect: 1_000,
  },
  {
    name: 'without a policy such a status is not stored',
    headers: {},
    policy: undefined,
    status: 302,
    expect: 'no-freshness',
  },
  {
    name: 'ttl never makes no-store storable',
    headers: { 'cache-control': 'no-store' },
    policy: { ttlOverrideMs: 60_000 },
    expect: 'no-store',
  },
]

describe('route policy over freshness', () => {
  for (const c of cases) {
    test(c.name, () => {
      const result = lifetimeOf(c.headers, c.policy, c.status)
      assert.equal(typeof result === 'string' ? result : result.lifetimeMs, c.expect)
    })
  }

  test('stale windows from the policy apply only when the response sets none', () => {
    const own = lifetimeOf(
      { 'cache-control': 'max-age=1, stale-while-revalidate=5' },
      { staleWhileRevalidateMs: 60_000, staleIfErrorMs: 90_000 },
    )
    assert.ok(typeof own !== 'string')
    assert.equal(own.staleWhileRevalidateMs, 5_000)
    assert.equal(own.staleIfErrorMs, 90_000)
  })

  test('ignoreSetCookie stores the response without its Set-Cookie', () => {
    const headers = { 'cache-control': 'max-age=60', 'set-cookie': 'id=1' }
    assert.equal(lifetimeOf(headers, {}), 'set-cookie')
    const stored = lifetimeOf(headers, { ignoreSetCookie: true })
    assert.ok(typeof stored !== 'string')
    assert.equal(stored.headers['set-cookie'], undefined)
  })
})
