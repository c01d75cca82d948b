import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  afterCacheStatus,
  type CacheStatusParams,
  type ForwardReason,
  formatCacheStatus,
} from '../../src/cache/cache-status.ts'

describe('formatCacheStatus', () => {
  const cases: { name: string; params: CacheStatusParams; expected: string }[] = [
    {
      name: 'RFC 9211 §2: the cache name alone when there is nothing to say',
      params: {},
      expected: 'edgecache',
    },
    {
      name: 'RFC 9211 §2.1: hit is a bare boolean parameter',
      params: { hit: true },
      expected: 'edgecache; hit',
    },
    {
      name: 'RFC 9211 §2.1: hit=false is left out',
      params: { hit: false, fwd: 'miss' },
      expected: 'edgecache; fwd=miss',
    },
    ...(['bypass', 'method', 'uri-miss', 'vary-miss', 'miss', 'request', 'stale'] as ForwardReason[]).map(
      (fwd) => ({
        name: `RFC 9211 §2.2: fwd=${fwd} is a token`,
        params: { fwd },
        expected: `edgecache; fwd=${fwd}`,
      }),
    ),
    {
      name: 'RFC 9211 §2.3: fwd-status gives the status the next hop returned',
      params: { fwd: 'stale', fwdStatus: 304 },
      expected: 'edgecache; fwd=stale; fwd-status=304',
    },
    {
      name: 'RFC 9211 §2.4: ttl is the remaining freshness in whole seconds',
      params: { hit: true, ttlMs: 42_000 },
      expected: 'edgecache; hit; ttl=42',
    },
    {
      name: 'RFC 9211 §2.4: ttl is rounded down, so freshness is never overstated',
      params: { hit: true, ttlMs: 59_999 },
      expected: 'edgecache; hit; ttl=59',
    },
    {
      name: 'RFC 9211 §2.4: ttl of a response about to go stale is zero',
      params: { hit: true, ttlMs: 1 },
      expected: 'edgecache; hit; ttl=0',
    },
    {
      name: 'RFC 9211 §2.4: ttl is negative for a stale response',
      params: { hit: true, ttlMs: -30_000 },
      expected: 'edgecache; hit; ttl=-30',
    },
    {
      name: 'RFC 9211 §2.4: a response stale by a fraction of a second has a negative ttl',
      params: { hit: true, ttlMs: -1 },
      expected: 'edgecache; hit; ttl=-1',
    },
    {
      name: 'RFC 9211 §2.4: ttl=0 is written as 0, never -0',
      params: { hit: true, ttlMs: -0 },
      expected: 'edgecache; hit; ttl=0',
    },
    {
      name: 'RFC 9211 §2.5: stored is a bare boolean parameter',
      params: { fwd: 'uri-miss', fwdStatus: 200, stored: true, ttlMs: 60_000 },
      expected: 'edgecache; fwd=uri-miss; fwd-status=200; ttl=60; stored',
    },
    {
      name: 'RFC 9211 §2.5: stored=false is left out',
      params: { fwd: 'uri-miss', stored: false },
      expected: 'edgecache; fwd=uri-miss',
    },
    {
      name: 'RFC 9211 §2.6: collapsed is a bare boolean parameter',
      params: { fwd: 'uri-miss', fwdStatus: 200, collapsed: true, ttlMs: 10_000 },
      expected: 'edgecache; fwd=uri-miss; fwd-status=200; ttl=10; collapsed',
    },
    {
      name: 'RFC 9211 §2.8: a detail that is a token is written bare',
      params: { fwd: 'request', detail: 'only-if-cached' },
      expected: 'edgecache; fwd=request; detail=only-if-cached',
    },
    {
      name: 'RFC 9211 §2.8: a detail that is not a token is a quoted string',
      params: { hit: true, detail: 'served stale' },
      expected: 'edgecache; hit; detail="served stale"',
    },
    {
      name: 'RFC 9211 §2.8: a detail starting with a digit is a quoted string',
      params: { hit: true, detail: '5xx' },
      expected: 'edgecache; hit; detail="5xx"',
    },
    {
      name: 'RFC 8941 §3.3.3: quotes and backslashes in a quoted detail are escaped',
      params: { hit: true, detail: 'say "hi" \\ bye' },
      expected: 'edgecache; hit; detail="say \\"hi\\" \\\\ bye"',
    },
    {
      name: 'RFC 9211 §2: every parameter together, in a stable order',
      params: {
        hit: true,
        fwd: 'stale',
        fwdStatus: 503,
        ttlMs: -5000,
        stored: true,
        collapsed: true,
        detail: 'stale-if-error',
      },
      expected: 'edgecache; hit; fwd=stale; fwd-status=503; ttl=-5; stored; collapsed; detail=stale-if-error',
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(formatCacheStatus('edgecache', c.params), c.expected)
    })
  }
})

describe('afterCacheStatus', () => {
  it('RFC 9211 §2: adds the entry after those already there, whatever their form', () => {
    assert.equal(afterCacheStatus(undefined, 'edgecache; hit'), 'edgecache; hit')
    assert.equal(afterCacheStatus(' ', 'edgecache; hit'), 'edgecache; hit')
    assert.equal(afterCacheStatus('cdn; hit', 'edgecache; hit'), 'cdn; hit, edgecache; hit')
    assert.equal(
      afterCacheStatus(['a; hit', 'b; fwd=miss'], 'edgecache; hit'),
      'a; hit, b; fwd=miss, edgecache; hit',
    )
  })
})
