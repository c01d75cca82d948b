/**
 * Summing workers' status reports (src/admin/status-merge.ts) and reading the snapshot from
 * the sum (toSnapshot): hand-made reports, exact figures. The charts' history has its own
 * file (status-history.test.ts); here it is summed as part of a report.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { binCount, binOf } from '../../src/admin/latency-histogram.ts'
import type { HistorySampleReport } from '../../src/admin/status-history.ts'
import { mergeStatusReports } from '../../src/admin/status-merge.ts'
import {
  type PurgeStatus,
  type ServerStatus,
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
  answers: { errors5xx?: number; errors4xx?: number; bytes?: number } = {},
): StatusCounts {
  return {
    requests,
    lookups,
    hits,
    errors5xx: answers.errors5xx ?? 0,
    errors4xx: answers.errors4xx ?? 0,
    bytes: answers.bytes ?? 0,
    latency: bins(latency),
  }
}

function purge(id: string, at: number, source: PurgeStatus['source'] = 'admin'): PurgeStatus {
  return { id, at, kinds: ['tag'], summary: `tags: ${id}`, purged: 1, soft: false, source }
}

/** One history sample of `requests` requests, all looked up, `hits` of them hits, all in `bin`. */
function sample(
  at: number,
  seconds: number,
  requests: number,
  hits: number,
  bin: number,
): HistorySampleReport {
  return { at, seconds, requests, lookups: requests, hits, latency: [[bin, requests]] }
}

/** A server of the pool `app`: up, idle and without failures unless `figures` says otherwise. */
function server(
  url: string,
  state: ServerStatus['state'],
  figures: Partial<ServerStatus> = {},
): ServerStatus {
  return {
    upstream: 'app',
    url,
    weight: 1,
    backup: false,
    state,
    active: 0,
    connections: 0,
    requests: 0,
    failures: 0,
    ejections: 0,
    lastError: null,
    lastAt: null,
    ...figures,
  }
}

const a: StatusReport = {
  pids: [101],
  at: 5_000,
  startedAt: 1_000,
  version: '1.2.3',
  node: 'v24.1.0',
  windowSeconds: 60,
  rateSeconds: 10,
  totals: { requests: 500, hits: 300, bytesFromCache: 7_000 },
  window: {
    counts: counts(80, 80, 60, { [fast]: 80 }, { errors5xx: 2, errors4xx: 5, bytes: 8_000 }),
    recentRequests: 40,
    bytesFromCache: 5_000,
  },
  routes: [
    { name: 'api', counts: counts(80, 80, 60, { [fast]: 80 }, { errors5xx: 2, errors4xx: 5, bytes: 8_000 }) },
  ],
  stores: [
    {
      name: 'memory',
      shared: false,
      entries: 3,
      bytes: 300,
      maxBytes: 1_000,
      tags: 2,
      evictions: 1,
      evictionsTotal: 4,
      errors: 0,
    },
  ],
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
  servers: [
    server('http://10.0.0.1:8080', 'up', { active: 2, connections: 3, requests: 20, lastAt: 1_000 }),
    server('http://10.0.0.2:8080', 'up', { active: 0, connections: 1, requests: 10, lastAt: 900 }),
  ],
  purges: [purge('x', 300), purge('y', 100)],
  // Two intervals of 10 s: the older one whole, the current one 5 s in.
  history: {
    intervalSeconds: 10,
    seconds: 3600,
    samples: [sample(0, 10, 30, 30, fast), sample(10_000, 5, 10, 5, fast)],
  },
}

const b: StatusReport = {
  pids: [102],
  at: 5_002,
  startedAt: 1_200,
  version: '1.2.3',
  node: 'v24.1.0',
  windowSeconds: 60,
  rateSeconds: 10,
  totals: { requests: 120, hits: 20, bytesFromCache: 1_000 },
  window: {
    counts: counts(20, 20, 0, { [fast]: 19, [slow]: 1 }, { errors5xx: 1, bytes: 2_000 }),
    recentRequests: 20,
    bytesFromCache: 500,
  },
  routes: [
    { name: 'api', counts: counts(19, 19, 0, { [fast]: 19 }, { bytes: 1_900 }) },
    { name: 'img', counts: counts(1, 1, 0, { [slow]: 1 }, { errors5xx: 1, bytes: 100 }) },
  ],
  stores: [
    {
      name: 'memory',
      shared: false,
      entries: 4,
      bytes: 400,
      maxBytes: 1_000,
      tags: 2,
      evictions: 2,
      evictionsTotal: 3,
      errors: 1,
    },
  ],
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
  servers: [
    server('http://10.0.0.1:8080', 'up', { active: 1, connections: 2, requests: 6, lastAt: 800 }),
    server('http://10.0.0.2:8080', 'ejected', {
      connections: 0,
      requests: 4,
      failures: 3,
      ejections: 1,
      lastError: 'EC_ERR_UPSTREAM_CONNECT',
      lastAt: 2_000,
    }),
  ],
  // x was recorded by both: it is one purge.
  purges: [purge('x', 300), purge('z', 200)],
  // Started later, inside the first interval: it covers 8 s of it.
  history: {
    intervalSeconds: 10,
    seconds: 3600,
    samples: [sample(0, 8, 10, 0, slow), sample(10_000, 5, 10, 5, fast)],
  },
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

  test('error answers and bytes sent are summed, in the window and per route', () => {
    assert.equal(s.window.errors5xx, 3)
    assert.equal(s.window.errors4xx, 5)
    assert.equal(s.window.bytes, 10_000)
    assert.deepEqual(
      s.routes.map((r) => [r.name, r.errors5xx, r.errors4xx, r.bytes]),
      [
        ['api', 2, 5, 9_900],
        ['img', 1, 0, 100],
      ],
    )
  })

  test('the history sums each interval over the workers and reads rates and percentiles from the sum', () => {
    assert.deepEqual(
      s.history.samples.map((x) => [x.at, x.requests, x.requestsPerSecond, x.hitRatio]),
      [
        // 40 requests over the 10 s the older worker covered (the other covered 8 of them).
        [0, 40, 4, 30 / 40],
        // The current interval, 5 s in: 20 requests are 4 per second.
        [10_000, 20, 4, 10 / 20],
      ],
    )
    assert.equal(s.history.intervalSeconds, 10)
    assert.equal(s.history.seconds, 3600)
    // 30 fast and 10 slow: the p99 is in the slow bin, the p50 in the fast one.
    assert.ok(s.history.samples[0]!.p99Ms! > 200)
    assert.ok(s.history.samples[0]!.p50Ms! <= fastMs)
  })

  test('uptime runs from the earliest worker’s start; version and Node.js come with the sum', () => {
    assert.equal(s.startedAt, 1_000)
    assert.equal(s.uptimeSeconds, 4)
    assert.equal(s.version, '1.2.3')
    assert.equal(s.node, 'v24.1.0')
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

  test('memory stores, one per worker, are summed, bounds too; an error in any marks the sum degraded', () => {
    assert.deepEqual(s.stores, [
      {
        name: 'memory',
        state: 'degraded',
        entries: 7,
        bytes: 700,
        maxBytes: 2_000,
        fill: 0.35,
        fileBytes: null,
        tags: 4,
        evictions: 3,
        evictionsTotal: 7,
        errors: 1,
      },
    ])
  })

  test('a shared store sums what each worker counted, but tags are the largest count', () => {
    const redis = (entries: number, bytes: number, tags: number, evictions = 0) => ({
      name: 'redis',
      shared: true,
      entries,
      bytes,
      tags,
      evictions,
      evictionsTotal: evictions,
      errors: 0,
    })
    const shared = mergeStatusReports([
      { ...a, stores: [redis(3, 300, 5)] },
      { ...b, stores: [redis(4, 400, 2)] },
    ])
    assert.deepEqual(shared.stores, [redis(7, 700, 5)])
    assert.deepEqual(
      toSnapshot(shared, 1, true).stores.map((x) => [x.maxBytes, x.fill, x.fileBytes]),
      [[null, null, null]],
    )
  })

  test('the local store, one file for every worker: its figures and bound are one, its evictions summed', () => {
    const local = (bytes: number, fileBytes: number, evictions: number) => ({
      name: 'local',
      shared: true,
      perHost: true,
      entries: 10,
      bytes,
      maxBytes: 4_000,
      fileBytes,
      tags: 1,
      evictions,
      evictionsTotal: evictions,
      errors: 0,
    })
    const sum = mergeStatusReports([
      { ...a, stores: [local(1_000, 8_192, 2)] },
      { ...b, stores: [local(1_200, 12_288, 3)] },
    ])
    const [store] = toSnapshot(sum, 1, true).stores
    assert.deepEqual(store, {
      name: 'local',
      state: 'up',
      entries: 10,
      bytes: 1_200,
      maxBytes: 4_000,
      fill: 0.3,
      fileBytes: 12_288,
      tags: 1,
      evictions: 5,
      evictionsTotal: 5,
      errors: 0,
    })
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

  test('each server sums its requests, connections and failures over workers; workers that disagree make it mixed', () => {
    assert.deepEqual(s.servers, [
      server('http://10.0.0.1:8080', 'up', { active: 3, connections: 5, requests: 26, lastAt: 1_000 }),
      server('http://10.0.0.2:8080', 'mixed', {
        connections: 1,
        requests: 14,
        failures: 3,
        ejections: 1,
        lastError: 'EC_ERR_UPSTREAM_CONNECT',
        lastAt: 2_000,
      }),
    ])
  })

  test('purges after unsafe methods are kept apart: a busy form does not push out the operators’ purges', () => {
    const unsafe = (id: string, at: number) => purge(id, at, 'unsafe-method')
    const sum = mergeStatusReports(
      [
        { ...a, purges: [unsafe('u3', 900), unsafe('u2', 800), purge('x', 300)] },
        { ...b, purges: [unsafe('u1', 700), purge('z', 200), purge('y', 100)] },
      ],
      { maxPurges: 2 },
    )
    assert.deepEqual(
      sum.purges.map((p) => [p.id, p.source]),
      [
        ['u3', 'unsafe-method'],
        ['u2', 'unsafe-method'],
        ['x', 'admin'],
        ['z', 'admin'],
      ],
    )
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
