/**
 * Summing workers' status reports (src/admin/status-merge.ts) and reading the snapshot from
 * the sum (toSnapshot): hand-made reports, exact figures.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { binCount, binOf } from '../../src/admin/latency-histogram.ts'
import { mergeStatusReports } from '../../src/admin/status-merge.ts'
import {
  type PurgeStatus,
  type StatusCounts,
  type StatusReport,
  toSnapshot,
} from '../../src/admin/status-snapshot.ts'

/** Bin 20's upper bound: 0.01 ms × √2^20. */
const fastMs = 10.24
const fast = binOf(fastMs)
const slow = binOf(300)

function bins(counts: Record<number, number>): number[] {
  return Array.from({ length: binCount }, (_, i) => counts[i] ?? 0)
}

function counts(
  requests: number,
  lookups: number,
  hits: number,
  latency: Record<number, number>,
): StatusCounts {
  return { requests, lookups, hits, latency: bins(latency) }
}

function purge(id: string, at: number): PurgeStatus {
  return { id, at, kinds: ['tag'], summary: `tags: ${id}`, purged: 1, soft: false }
}

const a: StatusReport = {
  pids: [101],
  at: 5_000,
  startedAt: 1_000,
  windowSeconds: 60,
  rateSeconds: 10,
  totals: { requests: 500, hits: 300, bytesFromCache: 7_000 },
  window: { counts: counts(80, 80, 60, { [fast]: 80 }), recentRequests: 40, bytesFromCache: 5_000 },
  routes: [{ name: 'api', counts: counts(80, 80, 60, { [fast]: 80 }) }],
  stores: [{ name: 'memory', shared: false, entries: 3, bytes: 300, tags: 2, errors: 0 }],
  upstreams: [
    {
      name: 'default',
      state: 'up',
      requests: 30,
      errors: 0,
      lastStatus: 200,
      lastError: null,
      lastAt: 1_000,
    },
  ],
  purges: [purge('x', 300), purge('y', 100)],
}

const b: StatusReport = {
  pids: [102],
  at: 5_002,
  startedAt: 1_200,
  windowSeconds: 60,
  rateSeconds: 10,
  totals: { requests: 120, hits: 20, bytesFromCache: 1_000 },
  window: { counts: counts(20, 20, 0, { [fast]: 19, [slow]: 1 }), recentRequests: 20, bytesFromCache: 500 },
  routes: [
    { name: 'api', counts: counts(19, 19, 0, { [fast]: 19 }) },
    { name: 'img', counts: counts(1, 1, 0, { [slow]: 1 }) },
  ],
  stores: [{ name: 'memory', shared: false, entries: 4, bytes: 400, tags: 2, errors: 1 }],
  upstreams: [
    {
      name: 'default',
      state: 'failing',
      requests: 10,
      errors: 2,
      lastStatus: null,
      lastError: 'refused',
      lastAt: 2_000,
    },
  ],
  // x was recorded by both: it is one purge.
  purges: [purge('x', 300), purge('z', 200)],
}

describe('summing workers’ status reports', () => {
  const sum = mergeStatusReports([a, b])
  const s = toSnapshot(sum, 101, true)

  test('requests, hits, bytes and the request rate are summed', () => {
    assert.deepEqual(s.totals, { requests: 620, hits: 320, bytesFromCache: 8_000 })
    assert.equal(s.window.requests, 100)
    assert.equal(s.window.bytesFromCache, 5_500)
    // (40 + 20) requests over the last 10 s.
    assert.equal(s.window.requestsPerSecond, 6)
  })

  test('the hit ratio is recomputed from summed hits and lookups, not averaged', () => {
    // 60 / 80 and 0 / 20 average to 0.375; the sum is 60 / 100.
    assert.equal(s.window.hitRatio, 0.6)
    assert.equal(s.routes.find((r) => r.name === 'api')?.hitRatio, 60 / 99)
    assert.equal(s.routes.find((r) => r.name === 'img')?.hitRatio, 0)
  })

  test('latency histograms are summed bin by bin and the percentile read from the sum', () => {
    assert.deepEqual(sum.window.counts.latency, bins({ [fast]: 99, [slow]: 1 }))
    assert.deepEqual(sum.routes.find((r) => r.name === 'api')?.counts.latency, bins({ [fast]: 99 }))
    // The 99th of 100 requests is the last of the 99 fast ones: the top of their bin. The
    // workers' own p99s (about 10 ms and about 310 ms) would average to about 160 ms.
    assert.equal(s.window.p99Ms, fastMs)
    assert.ok(toSnapshot(b, 102, false).window.p99Ms! > 200)
  })

  test('routes are summed by name, busiest first', () => {
    assert.deepEqual(
      s.routes.map((r) => [r.name, r.requests]),
      [
        ['api', 99],
        ['img', 1],
      ],
    )
  })

  test('memory stores, one per worker, are summed; an error in any marks the sum degraded', () => {
    assert.deepEqual(s.stores, [
      { name: 'memory', state: 'degraded', entries: 7, bytes: 700, tags: 4, errors: 1 },
    ])
  })

  test('a shared store sums what each worker counted, but tags are the largest count', () => {
    const redis = (entries: number, bytes: number, tags: number) => ({
      name: 'redis',
      shared: true,
      entries,
      bytes,
      tags,
      errors: 0,
    })
    const shared = mergeStatusReports([
      { ...a, stores: [redis(3, 300, 5)] },
      { ...b, stores: [redis(4, 400, 2)] },
    ])
    assert.deepEqual(shared.stores, [redis(7, 700, 5)])
  })

  test('an upstream’s state and last answer come from the worker that heard from it last', () => {
    assert.deepEqual(s.upstreams, [
      {
        name: 'default',
        state: 'failing',
        requests: 40,
        errors: 2,
        lastStatus: null,
        lastError: 'refused',
        lastAt: 2_000,
      },
    ])
    const [upstream] = mergeStatusReports([
      b,
      { ...a, upstreams: [{ ...a.upstreams[0]!, lastAt: null }] },
    ]).upstreams
    assert.equal(upstream?.state, 'failing')
  })

  test('purges are merged newest first, each id once, at most maxPurges', () => {
    assert.deepEqual(
      s.purges.map((p) => [p.id, p.at]),
      [
        ['x', 300],
        ['z', 200],
        ['y', 100],
      ],
    )
    assert.deepEqual(
      mergeStatusReports([a, b], { maxPurges: 2 }).purges.map((p) => p.id),
      ['x', 'z'],
    )
  })

  test('the snapshot names the workers summed and the one that answered', () => {
    assert.equal(s.pid, 101)
    assert.equal(s.workers, 2)
    assert.deepEqual(s.pids, [101, 102])
    assert.equal(s.at, 5_002)
    assert.equal(s.startedAt, 1_000)
    assert.equal(s.windowSeconds, 60)
  })

  test('one process’s snapshot has no workers fields', () => {
    const single = toSnapshot(a, 101, false)
    assert.equal('workers' in single, false)
    assert.equal('pids' in single, false)
    assert.equal(single.window.hitRatio, 0.75)
  })

  test('the sum of one report reads as that report', () => {
    assert.deepEqual(toSnapshot(mergeStatusReports([a]), 101, false), toSnapshot(a, 101, false))
  })

  test('refuses to merge nothing', () => {
    assert.throws(() => mergeStatusReports([]), /no report/)
  })
})
