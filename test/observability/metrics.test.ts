/**
 * Prometheus metrics: createMetrics fed synthetic diagnostics-channel messages, then the
 * proxy end to end (known traffic, then a scrape of the admin listener's /metrics with
 * exact counter values and label sets), and GET /metrics's answers.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { createAdminServer } from '../../src/admin/admin-server.ts'
import { createClusterMetrics } from '../../src/observability/cluster-metrics.ts'
import { events } from '../../src/observability/events.ts'
import { createLogger } from '../../src/observability/logger.ts'
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts'
import { createRecordingInvalidator } from '../admin/admin-harness.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { parsePrometheusText, type Scrape } from './prometheus-text.ts'

const TOKEN = 'metrics-test-token-0001'
const stats = { entries: 7, bytes: 4096, tags: 2, taggedKeys: 3 }

function newMetrics(processMetrics = false): Metrics {
  return createMetrics({
    storeStats: () => stats,
    storeName: 'memory',
    upstreamName: 'origin-1',
    processMetrics,
  })
}

async function scrape(metrics: Metrics): Promise<Scrape> {
  return parsePrometheusText(await metrics.render())
}

function finished(fields: Partial<Parameters<typeof events.requestFinished.publish>[0] & object> = {}) {
  events.requestFinished.publish({
    route: 'api',
    method: 'GET',
    status: 200,
    cache: 'hit',
    collapsed: false,
    bytes: 100,
    totalMs: 0.3,
    ...fields,
  })
}

describe('createMetrics', () => {
  let metrics: Metrics
  before(() => {
    metrics = newMetrics()
  })
  after(() => metrics.close())

  test('counts requests by route, method, status class and cache outcome, bounding each label', async () => {
    finished()
    finished()
    finished({ cache: 'miss', bytes: 50, totalMs: 12 })
    finished({ method: 'BREW', status: 418, cache: 'pass' })
    finished({ method: 'PURGE', status: 200, cache: undefined, bytes: 0 })
    finished({ route: 'static', status: 499, cache: 'stale', collapsed: true })
    finished({ status: 600, cache: 'revalidated' })
    const s = await scrape(metrics)
    assert.deepEqual(s.series('edgecache_requests_total'), [
      'cache=hit,method=GET,route=api,status_class=2xx',
      'cache=miss,method=GET,route=api,status_class=2xx',
      'cache=none,method=PURGE,route=api,status_class=2xx',
      'cache=pass,method=other,route=api,status_class=4xx',
      'cache=revalidated,method=GET,route=api,status_class=other',
      'cache=stale,method=GET,route=static,status_class=4xx',
    ])
    assert.equal(
      s.value('edgecache_requests_total', { route: 'api', method: 'GET', status_class: '2xx', cache: 'hit' }),
      2,
    )
    assert.equal(s.sum('edgecache_requests_total'), 7)
    assert.equal(s.types.get('edgecache_requests_total'), 'counter')

    assert.equal(s.value('edgecache_bytes_served_total', { cache: 'hit' }), 200)
    assert.equal(s.value('edgecache_bytes_served_total', { cache: 'miss' }), 50)
    assert.equal(s.value('edgecache_bytes_served_total', { cache: 'none' }), 0)
    assert.equal(s.value('edgecache_collapsed_requests_total'), 1)
  })

  test('keeps request durations in a histogram by route and cache outcome', async () => {
    const s = await scrape(metrics)
    assert.equal(s.types.get('edgecache_request_duration_seconds'), 'histogram')
    const hit = { route: 'api', cache: 'hit' }
    assert.equal(s.value('edgecache_request_duration_seconds_count', hit), 2)
    assert.ok(Math.abs(s.value('edgecache_request_duration_seconds_sum', hit) - 0.0006) < 1e-12)
    assert.equal(s.value('edgecache_request_duration_seconds_bucket', { ...hit, le: '0.00025' }), 0)
    assert.equal(s.value('edgecache_request_duration_seconds_bucket', { ...hit, le: '0.0005' }), 2)
    assert.equal(s.value('edgecache_request_duration_seconds_bucket', { ...hit, le: '+Inf' }), 2)
    const miss = { route: 'api', cache: 'miss' }
    assert.equal(s.value('edgecache_request_duration_seconds_bucket', { ...miss, le: '0.01' }), 0)
    assert.equal(s.value('edgecache_request_duration_seconds_bucket', { ...miss, le: '0.025' }), 1)
    // Buckets are cumulative and end with +Inf equal to the count, for every series.
    for (const labels of s.series('edgecache_request_duration_seconds_count')) {
      const [cache, route] = labels.split(',').map((kv) => kv.split('=')[1] as string)
      const buckets = s.samples.filter(
        (x) =>
          x.name === 'edgecache_request_duration_seconds_bucket' &&
          x.labels.route === route &&
          x.labels.cache === cache,
      )
      for (let i = 1; i < buckets.length; i++) {
        assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0))
      }
      assert.equal(buckets.at(-1)?.labels.le, '+Inf')
      assert.equal(
        buckets.at(-1)?.value,
        s.value('edgecache_request_duration_seconds_count', {
          route: route as string,
          cache: cache as string,
        }),
      )
    }
  })

  test('counts upstream answers, durations and errors by kind', async () => {
    events.upstreamFinished.publish({ upstream: 'origin-1', status: 200, durationMs: 20, error: undefined })
    events.upstreamFinished.publish({ upstream: 'origin-1', status: 304, durationMs: 4, error: undefined })
    events.upstreamFinished.publish({
      upstream: 'origin-1',
      status: undefined,
      durationMs: 1,
      error: 'refused',
    })
    events.upstreamFinished.publish({
      upstream: 'origin-1',
      status: undefined,
      durationMs: 30,
      error: 'bad-response',
    })
    const s = await scrape(metrics)
    assert.deepEqual(s.series('edgecache_upstream_requests_total'), [
      'status_class=2xx,upstream=origin-1',
      'status_class=3xx,upstream=origin-1',
    ])
    assert.equal(s.value('edgecache_upstream_duration_seconds_count', { upstream: 'origin-1' }), 2)
    assert.equal(s.value('edgecache_upstream_duration_seconds_sum', { upstream: 'origin-1' }), 0.024)
    assert.equal(
      s.value('edgecache_upstream_duration_seconds_bucket', { upstream: 'origin-1', le: '0.005' }),
      1,
    )
    // Every kind starts at 0 for the configured upstream, so rate() works from the start.
    assert.deepEqual(
      ['refused', 'reset', 'timeout', 'bad_response'].map((kind) =>
        s.value('edgecache_upstream_errors_total', { upstream: 'origin-1', kind }),
      ),
      [1, 0, 0, 1],
    )
  })

  test('counts what the cache stored, did not store, evicted and refreshed', async () => {
    events.cacheStored.publish({ ttlMs: 60_000, bytes: 10 })
    events.cacheStored.publish({ ttlMs: 2_000, bytes: 10 })
    events.cacheNotStored.publish({ reason: 'no-store' })
    events.cacheNotStored.publish({ reason: 'no-store' })
    events.cacheNotStored.publish({ reason: 'https://example.com/secret?x' })
    events.cacheEvicted.publish({ reason: 'evict' })
    events.cacheEvicted.publish({ reason: 'expire' })
    events.cacheEvicted.publish({ reason: 'evict' })
    events.backgroundRevalidation.publish({ result: 'not-modified' })
    events.backgroundRevalidation.publish({ result: 'updated' })
    const s = await scrape(metrics)
    assert.equal(s.value('edgecache_cache_ttl_seconds_count'), 2)
    assert.equal(s.value('edgecache_cache_ttl_seconds_sum'), 62)
    assert.equal(s.value('edgecache_cache_ttl_seconds_bucket', { le: '5' }), 1)
    assert.equal(s.value('edgecache_cache_ttl_seconds_bucket', { le: '60' }), 2)
    assert.deepEqual(s.series('edgecache_cache_not_stored_total'), ['reason=no-store', 'reason=other'])
    assert.equal(s.value('edgecache_cache_not_stored_total', { reason: 'no-store' }), 2)
    assert.equal(s.value('edgecache_cache_evictions_total', { reason: 'evict' }), 2)
    assert.equal(s.value('edgecache_cache_evictions_total', { reason: 'expire' }), 1)
    assert.deepEqual(s.series('edgecache_background_revalidations_total'), [
      'result=not_modified',
      'result=updated',
    ])
    assert.equal(s.value('edgecache_cache_objects'), 7)
    assert.equal(s.value('edgecache_cache_bytes'), 4096)
  })

  test('counts invalidations once per kind and the objects they reached', async () => {
    const base = { at: 0, summary: '' }
    events.invalidation.publish({ ...base, kinds: ['tag', 'url'], soft: false, purged: 3 })
    events.invalidation.publish({ ...base, kinds: ['tag'], soft: true, purged: 2 })
    events.invalidation.publish({ ...base, kinds: ['all'], soft: false, purged: 0 })
    const s = await scrape(metrics)
    assert.deepEqual(s.series('edgecache_invalidations_total'), [
      'kind=all,soft=false',
      'kind=tag,soft=false',
      'kind=tag,soft=true',
      'kind=url,soft=false',
    ])
    assert.equal(s.value('edgecache_invalidations_total', { kind: 'tag', soft: 'false' }), 1)
    assert.equal(s.value('edgecache_invalidated_objects_total'), 5)
  })

  test('counts RFC 9111 §4.4 invalidations apart from operator purges', async () => {
    const urlCalls = async () =>
      (await scrape(metrics)).value('edgecache_invalidations_total', { kind: 'url', soft: 'false' }) ?? 0
    const before = await urlCalls()
    const base = { at: 0, summary: '', source: 'unsafe-method' as const }
    events.invalidation.publish({ ...base, kinds: ['url'], soft: false, purged: 2 })
    events.invalidation.publish({ ...base, kinds: ['url'], soft: false, purged: 0 })
    const s = await scrape(metrics)
    assert.equal(s.value('edgecache_unsafe_invalidations_total'), 2)
    assert.equal(s.value('edgecache_unsafe_invalidated_objects_total'), 2)
    assert.equal(await urlCalls(), before, 'not counted among operator purges')
  })

  test('counts storage errors by store and operation; the memory store is up', async () => {
    events.storageError.publish({ store: 'memory', op: 'set' })
    const s = await scrape(metrics)
    assert.deepEqual(
      ['get', 'set', 'delete', 'purge'].map((op) =>
        s.value('edgecache_storage_errors_total', { store: 'memory', op }),
      ),
      [0, 1, 0, 0],
    )
    assert.equal(s.value('edgecache_storage_up', { store: 'memory' }), 1)
  })

  test('counts fill-lock claims and waits by result, starting at 0 only where there are fill locks', async () => {
    const shared = createMetrics({
      storeStats: () => stats,
      storeName: 'tiered',
      upstreamName: 'origin-1',
      processMetrics: false,
      fillLocks: true,
    })
    try {
      assert.deepEqual((await scrape(metrics)).series('edgecache_fill_locks_total'), [])
      const results = ['abandoned', 'acquired', 'released', 'stored', 'timeout', 'unavailable', 'uncacheable']
      assert.deepEqual(
        (await scrape(shared)).series('edgecache_fill_locks_total'),
        results.map((result) => `result=${result}`),
      )
      for (const result of ['acquired', 'acquired', 'stored', 'timeout', 'unavailable', 'bogus']) {
        events.fillLock.publish({ result })
      }
      const s = await scrape(shared)
      assert.deepEqual(
        results.map((result) => s.value('edgecache_fill_locks_total', { result })),
        [0, 2, 0, 1, 1, 1, 0],
      )
      assert.equal(s.types.get('edgecache_fill_locks_total'), 'counter')
    } finally {
      shared.close()
    }
  })

  test('drops a malformed message instead of throwing from the publisher', async () => {
    const before = (await scrape(metrics)).sum('edgecache_requests_total')
    events.requestFinished.publish({
      route: 'api',
      method: 'GET',
      status: 200,
      bytes: Number.NaN,
      totalMs: 1,
    })
    events.upstreamFinished.publish({ upstream: 'origin-1', status: 200, durationMs: Number.NaN })
    events.cacheNotStored.publish({})
    events.requestFinished.publish(null)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal((await scrape(metrics)).sum('edgecache_requests_total'), before)
  })

  test('each instance has its own registry and close() stops counting', async () => {
    const other = newMetrics()
    finished({ route: 'only-after' })
    other.close()
    finished({ route: 'only-after' })
    const s = await scrape(other)
    assert.deepEqual(s.series('edgecache_requests_total'), [
      'cache=hit,method=GET,route=only-after,status_class=2xx',
    ])
    assert.equal(
      s.value('edgecache_requests_total', {
        route: 'only-after',
        method: 'GET',
        status_class: '2xx',
        cache: 'hit',
      }),
      1,
    )
    assert.equal(
      (await scrape(metrics)).value('edgecache_requests_total', {
        route: 'only-after',
        method: 'GET',
        status_class: '2xx',
        cache: 'hit',
      }),
      2,
    )
  })

  test('outside a cluster worker, the scrape source renders this process’s metrics', async () => {
    const scrapeSource = createClusterMetrics(metrics)
    assert.equal(scrapeSource.contentType, 'text/plain; version=0.0.4; charset=utf-8')
    assert.equal(await scrapeSource.render(), await metrics.render())
    scrapeSource.close()
  })

  test('adds the process metrics under their usual names unless told not to', async () => {
    const withProcess = newMetrics(true)
    try {
      const s = await scrape(withProcess)
      assert.equal(s.types.get('process_cpu_seconds_total'), 'counter')
      assert.ok(s.types.has('nodejs_heap_size_used_bytes'))
      assert.ok(s.value('process_resident_memory_bytes') > 0)
    } finally {
      withProcess.close()
    }
    assert.equal((await scrape(metrics)).types.has('process_cpu_seconds_total'), false)
  })
})

describe('GET /metrics on the admin listener', () => {
  async function startAdmin(render: () => Promise<string>) {
    const logs: string[] = []
    const server = createAdminServer({
      readiness: () => ({ ready: true, report: {} }),
      invalidator: createRecordingInvalidator(),
      tokens: [],
      log: createLogger({
        level: 'warn',
        destination: { write: (line: string) => logs.push(line) },
      }),
      metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', render },
    })
    const { port } = await server.listen('127.0.0.1', 0)
    return { url: `http://127.0.0.1:${port}`, logs, close: () => server.close() }
  }

  test('answers the text format, uncached, without a token', async () => {
    const admin = await startAdmin(async () => 'edgecache_up 1\n')
    try {
      const res = await send(`${admin.url}/metrics`)
      assert.equal(res.status, 200)
      assert.equal(res.header('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
      assert.equal(res.header('cache-control'), 'no-store')
      assert.equal(res.text, 'edgecache_up 1\n')
      const post = await send(`${admin.url}/metrics`, { method: 'POST' })
      assert.equal(post.status, 405)
      assert.equal(post.header('allow'), 'GET, HEAD')
    } finally {
      await admin.close()
    }
  })

  test('answers 503 and logs when the workers’ sum cannot be had', async () => {
    const admin = await startAdmin(() => Promise.reject(new Error('Operation timed out.')))
    try {
      const res = await send(`${admin.url}/metrics`)
      assert.equal(res.status, 503)
      assert.match(JSON.parse(res.text).error, /metrics unavailable/)
      assert.equal(admin.logs.length, 1)
      assert.match(admin.logs[0] ?? '', /metrics scrape failed/)
    } finally {
      await admin.close()
    }
  })
})

describe('metrics of the proxy after known traffic', () => {
  let origin: Origin
  let proxy: TestProxy
  let s: Scrape

  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url === '/fail') return void req.socket.destroy()
      if (req.url === '/private') {
        res.writeHead(200, { 'cache-control': 'no-store' })
        return void res.end('pp')
      }
      res.writeHead(200, {
        'cache-control': 'max-age=60',
        'surrogate-key': req.url === '/a' ? 'group-a' : 'group-b',
      })
      res.end(req.url === '/a' ? 'aaaa' : 'bbbbbb')
    })
    proxy = await startProxy({ upstream: origin.url, env: { EDGECACHE_ADMIN_TOKEN: TOKEN } })

    // 2 misses, 3 hits, 1 no-store pass, 1 upstream failure, 1 purge.
    for (const path of ['/a', '/b']) assert.equal((await send(`${proxy.url}${path}`)).status, 200)
    await waitFor(() => proxy.app.store.stats().entries === 2)
    for (const path of ['/a', '/a', '/b']) {
      assert.match((await send(`${proxy.url}${path}`)).header('cache-status') ?? '', /; hit/)
    }
    assert.match((await send(`${proxy.url}/private`)).header('cache-status') ?? '', /detail=no-store/)
    assert.equal((await send(`${proxy.url}/fail`)).status, 502)
    const purge = await send(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['group-a'] }),
    })
    assert.equal(JSON.parse(purge.text).purged, 1)
    // /fail went out on a kept-alive connection and was lost before any byte: the keep-alive
    // race as edgecache sees it, so it was replayed once on a new connection, and lost again.
    assert.deepEqual(
      origin.requests.map((r) => r.url),
      ['/a', '/b', '/private', '/fail', '/fail'],
    )

    // A request is counted when its response has finished, a moment after the client has it.
    let text = ''
    await waitFor(async () => {
      const res = await send(`${proxy.adminUrl}/metrics`)
      assert.equal(res.status, 200)
      assert.equal(res.header('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
      text = res.text
      return parsePrometheusText(text).sum('edgecache_requests_total') === 7
    })
    s = parsePrometheusText(text)
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('requests by route, method, status class and cache outcome', () => {
    const req = (status_class: string, cache: string) => ({
      route: 'default',
      method: 'GET',
      status_class,
      cache,
    })
    assert.deepEqual(s.series('edgecache_requests_total'), [
      'cache=hit,method=GET,route=default,status_class=2xx',
      'cache=miss,method=GET,route=default,status_class=2xx',
      // The failed fetch never got a cache outcome recorded.
      'cache=none,method=GET,route=default,status_class=5xx',
      'cache=pass,method=GET,route=default,status_class=2xx',
    ])
    assert.equal(s.value('edgecache_requests_total', req('2xx', 'miss')), 2)
    assert.equal(s.value('edgecache_requests_total', req('2xx', 'hit')), 3)
    assert.equal(s.value('edgecache_requests_total', req('2xx', 'pass')), 1)
    assert.equal(s.value('edgecache_requests_total', req('5xx', 'none')), 1)
    assert.equal(s.value('edgecache_request_duration_seconds_count', { route: 'default', cache: 'hit' }), 3)
    assert.equal(s.value('edgecache_request_duration_seconds_count', { route: 'default', cache: 'miss' }), 2)
  })

  test('bytes served by cache outcome: hits are bytes the backend was spared', () => {
    assert.equal(s.value('edgecache_bytes_served_total', { cache: 'hit' }), 4 + 4 + 6)
    assert.equal(s.value('edgecache_bytes_served_total', { cache: 'miss' }), 4 + 6)
    assert.equal(s.value('edgecache_bytes_served_total', { cache: 'pass' }), 2)
    assert.equal(s.value('edgecache_collapsed_requests_total'), 0)
  })

  test('upstream answers, durations and the one reset', () => {
    assert.deepEqual(s.series('edgecache_upstream_requests_total'), ['status_class=2xx,upstream=default'])
    assert.equal(
      s.value('edgecache_upstream_requests_total', { upstream: 'default', status_class: '2xx' }),
      3,
    )
    assert.equal(s.value('edgecache_upstream_duration_seconds_count', { upstream: 'default' }), 3)
    assert.deepEqual(s.series('edgecache_upstream_errors_total'), [
      'kind=bad_response,upstream=default',
      'kind=refused,upstream=default',
      'kind=reset,upstream=default',
      'kind=timeout,upstream=default',
    ])
    assert.equal(s.value('edgecache_upstream_errors_total', { upstream: 'default', kind: 'reset' }), 1)
    assert.equal(s.sum('edgecache_upstream_errors_total'), 1)
    // The replay is no error of its own, and no retry.
    assert.equal(s.value('edgecache_upstream_replays_total', { upstream: 'default' }), 1)
    assert.equal(s.value('edgecache_upstream_retries_total', { upstream: 'default', result: 'retried' }), 0)
  })

  test('the store: what was stored, not stored, purged and is held', () => {
    assert.equal(s.value('edgecache_cache_ttl_seconds_count'), 2)
    assert.equal(s.value('edgecache_cache_ttl_seconds_sum'), 120)
    assert.deepEqual(s.series('edgecache_cache_not_stored_total'), ['reason=no-store'])
    assert.equal(s.value('edgecache_cache_not_stored_total', { reason: 'no-store' }), 1)
    assert.deepEqual(s.series('edgecache_cache_evictions_total'), ['reason=delete'])
    assert.equal(s.value('edgecache_cache_evictions_total', { reason: 'delete' }), 1)
    assert.equal(s.value('edgecache_cache_objects'), 1)
    assert.equal(s.value('edgecache_cache_bytes'), proxy.app.store.stats().bytes)
    assert.equal(s.value('edgecache_cache_max_bytes'), 1024 ** 3)
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    assert.equal(s.value('edgecache_build_info', { version, node: process.versions.node }), 1)
    // The scrape itself is on the admin listener: nothing in flight on the proxy listener.
    assert.equal(s.value('edgecache_requests_in_flight'), 0)
    assert.ok(s.value('edgecache_open_connections') >= 0)
    assert.ok(s.value('edgecache_cache_file_bytes') > 0)
    assert.equal(s.value('edgecache_storage_up', { store: 'local' }), 1)
    assert.equal(s.sum('edgecache_storage_errors_total'), 0)
    assert.deepEqual(s.series('edgecache_background_revalidations_total'), [])
  })

  test('the purge', () => {
    assert.deepEqual(s.series('edgecache_invalidations_total'), ['kind=tag,soft=false'])
    assert.equal(s.value('edgecache_invalidations_total', { kind: 'tag', soft: 'false' }), 1)
    assert.equal(s.value('edgecache_invalidated_objects_total'), 1)
  })

  test('no series carries a URL or a tag', () => {
    for (const sample of s.samples) {
      for (const value of Object.values(sample.labels)) {
        assert.doesNotMatch(
          value,
          /^\/|group-|https?:\/\//,
          `${sample.name} ${JSON.stringify(sample.labels)}`,
        )
      }
    }
  })
})

describe('traffic right now', () => {
  test('a request held at the origin is in flight on an open connection; both gauges drop when it ends', async () => {
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const origin = await startOrigin(async (_req, res) => {
      await held
      res.writeHead(200, { 'cache-control': 'no-store' })
      res.end('late')
    })
    const proxy = await startProxy({ upstream: origin.url })
    try {
      const gauges = async () => {
        const s = parsePrometheusText((await send(`${proxy.adminUrl}/metrics`)).text)
        return {
          inFlight: s.value('edgecache_requests_in_flight'),
          open: s.value('edgecache_open_connections'),
        }
      }
      const pending = send(`${proxy.url}/slow`, { headers: { connection: 'close' } })
      await waitFor(async () => origin.count('/slow') === 1)
      assert.deepEqual(await gauges(), { inFlight: 1, open: 1 })
      release()
      assert.equal((await pending).text, 'late')
      await waitFor(async () => {
        const now = await gauges()
        return now.inFlight === 0 && now.open === 0
      })
    } finally {
      release()
      await proxy.close()
      await origin.close()
    }
  })
})
