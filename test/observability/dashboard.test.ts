/** Every edgecache metric the Grafana dashboard queries is one edgecache exports. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { createMetrics } from '../../src/observability/metrics.ts'

test('the dashboard queries only metrics edgecache exports', async () => {
  const dashboard = readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8')
  const queried = new Set(
    [...dashboard.matchAll(/\bedgecache_[a-z_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, '')),
  )
  // Every optional metric switched on, as with the local store and a running proxy.
  const metrics = createMetrics({
    storeStats: () => ({ entries: 0, bytes: 0, tags: 0 }) as never,
    storeName: 'local',
    upstreamName: 'default',
    storePerHost: true,
    storeCapacity: () => ({ maxBytes: 1, fileBytes: 1 }),
    fillLocks: true,
    traffic: () => ({ inFlight: 0, connections: 0 }),
    pools: { pools: ['default'], servers: () => [] },
    version: '0.0.0',
    processMetrics: false,
  })
  try {
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name))
    const unknown = [...queried].filter((name) => !exported.has(name))
    assert.deepEqual(unknown, [])
    for (const name of [
      'edgecache_cache_max_bytes',
      'edgecache_requests_in_flight',
      'edgecache_build_info',
    ]) {
      assert.ok(queried.has(name), `the dashboard shows ${name}`)
    }
  } finally {
    metrics.close()
  }
})
