import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FieldValue } from '../../src/cache/cache-control.ts'
import { parseRequestDirectives, type RequestDirectives } from '../../src/cache/request-directives.ts'

const NONE: RequestDirectives = {
  noCache: false,
  noStore: false,
  onlyIfCached: false,
  maxAgeMs: undefined,
  maxStaleMs: undefined,
  minFreshMs: undefined,
}

describe('parseRequestDirectives', () => {
  const cases: {
    name: string
    cacheControl?: FieldValue
    pragma?: FieldValue
    expected: Partial<RequestDirectives>
  }[] = [
    { name: 'RFC 9111 §5.2.1: a request without cache fields asks for nothing', expected: {} },
    {
      name: 'RFC 9111 §5.2.1.1: max-age limits the age the client accepts, in ms',
      cacheControl: 'max-age=60',
      expected: { maxAgeMs: 60_000 },
    },
    {
      name: 'RFC 9111 §5.2.1.1: an invalid max-age is ignored',
      cacheControl: 'max-age=-5',
      expected: {},
    },
    {
      name: 'RFC 9111 §5.2.1.2: a bare max-stale accepts any staleness',
      cacheControl: 'max-stale',
      expected: { maxStaleMs: Number.POSITIVE_INFINITY },
    },
    {
      name: 'RFC 9111 §5.2.1.2: max-stale with a value accepts that much staleness',
      cacheControl: 'max-stale=30',
      expected: { maxStaleMs: 30_000 },
    },
    {
      name: 'RFC 9111 §5.2.1.2: max-stale with an invalid value accepts no staleness',
      cacheControl: 'max-stale=later',
      expected: { maxStaleMs: 0 },
    },
    {
      name: 'RFC 9111 §5.2.1.3: min-fresh asks for remaining freshness, in ms',
      cacheControl: 'min-fresh=10',
      expected: { minFreshMs: 10_000 },
    },
    {
      name: 'RFC 9111 §5.2.1.4: no-cache asks for validation with the origin',
      cacheControl: 'no-cache',
      expected: { noCache: true },
    },
    {
      name: 'RFC 9111 §5.2.1.5: no-store is read',
      cacheControl: 'no-store',
      expected: { noStore: true },
    },
    {
      name: 'RFC 9111 §5.2.1.7: only-if-cached is read',
      cacheControl: 'only-if-cached',
      expected: { onlyIfCached: true },
    },
    {
      name: 'RFC 9111 §5.2: request directive names are case-insensitive',
      cacheControl: 'No-Cache, MAX-AGE=5, Min-Fresh=1',
      expected: { noCache: true, maxAgeMs: 5000, minFreshMs: 1000 },
    },
    {
      name: 'RFC 9111 §5.2: directives from several field lines combine',
      cacheControl: ['max-stale=10', 'no-store'],
      expected: { noStore: true, maxStaleMs: 10_000 },
    },
    {
      name: 'RFC 9111 §5.4: Pragma: no-cache counts as no-cache when Cache-Control is absent',
      pragma: 'no-cache',
      expected: { noCache: true },
    },
    {
      name: 'RFC 9111 §5.4: Pragma: no-cache is found in a list, case-insensitively',
      pragma: 'x-debug, No-Cache',
      expected: { noCache: true },
    },
    {
      name: 'RFC 9111 §5.4: Pragma: no-cache is found across field lines',
      pragma: ['x-debug', 'no-cache'],
      expected: { noCache: true },
    },
    {
      name: 'RFC 9111 §5.4: Pragma is ignored when the request has Cache-Control',
      cacheControl: 'max-age=600',
      pragma: 'no-cache',
      expected: { maxAgeMs: 600_000 },
    },
    {
      name: 'RFC 9111 §5.4: a Pragma token that only starts with no-cache is not no-cache',
      pragma: 'no-cache-please',
      expected: {},
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(parseRequestDirectives(c.cacheControl, c.pragma), { ...NONE, ...c.expected })
    })
  }
})
