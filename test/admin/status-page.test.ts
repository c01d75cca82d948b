/**
 * The status page's data and its HTML, without a browser: the tracker's figures after
 * synthetic diagnostics events on a fake clock, and the page and JSON on a real admin
 * listener (CSP, no external assets, escaping). test/browser/status-page.test.ts drives the
 * page in Chromium.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, afterEach, before, describe, test } from 'node:test'
import { type AdminServer, createAdminServer } from '../../src/admin/admin-server.ts'
import {
  createStatusTracker,
  otherRoutes,
  type ServerState,
  type StatusTracker,
  type StatusTrackerOptions,
} from '../../src/admin/status.ts'
import { escapeHtml, jsonForScript, renderStatusPage } from '../../src/admin/status-page.ts'
import type { StatusSnapshot } from '../../src/admin/status-snapshot.ts'
import {
  type CacheEvicted,
  events,
  type Invalidation,
  publish,
  type RequestFinished,
  type StorageError,
  type UpstreamFinished,
} from '../../src/observability/events.ts'
import type { CacheOutcome } from '../../src/pipeline/context.ts'
import type { StoreStats } from '../../src/storage/store.ts'
import { createFakeClock, type FakeClock } from '../support/clock.ts'
import { closeClient, send } from '../support/client.ts'
import { createRecordingInvalidator } from './admin-harness.ts'
import { createLogger } from '../../src/observability/logger.ts'

const stats: StoreStats = { entries: 3, bytes: 4096, tags: 2, taggedKeys: 4 }

function request(
  route: string,
  cache: CacheOutcome | undefined,
  totalMs = 1,
  bytes = 100,
  status = 200,
): void {
  publish<RequestFinished>(events.requestFinished, {
    route,
    method: 'GET',
    status,
    cache,
    collapsed: false,
    bytes,
    totalMs,
  })
}

function purge(
  summary: string,
  purged = 1,
  at = 0,
  soft = false,
  source: Invalidation['source'] = 'admin',
): void {
  publish<Invalidation>(events.invalidation, {
    id: `p${at}`,
    kinds: ['tag'],
    soft,
    purged,
    at,
    summary,
    source,
  })
}

/** Trackers made by a test, closed after it so none of them hears the next test's events. */
const open: StatusTracker[] = []
function tracker(
  clock: FakeClock,
  options: Partial<Pick<StatusTrackerOptions, 'maxRoutes' | 'maxPurges' | 'storeCapacity' | 'servers'>> = {},
): StatusTracker {
  const status = createStatusTracker({
    clock,
    storeStats: () => stats,
    upstreamName: 'origin',
    version: '9.8.7',
    ...options,
  })
  open.push(status)
  return status
}
afterEach(() => {
  for (const status of open.splice(0)) status.close()
})

describe('status tracker', () => {
  test('counts requests, hits (hit and stale) over lookups, and bytes served from cache', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    for (let i = 0; i < 6; i++) request('product', 'hit', 1, 1000)
    request('product', 'stale', 1, 500)
    request('product', 'revalidated', 1, 200)
    request('product', 'miss', 1, 1000)
    request('product', 'pass', 1, 1000)
    request('api', 'bypass', 1, 50)
    request('api', undefined, 1, 10) // answered before the cache stage: not a lookup
    const s = status.snapshot()
    assert.deepEqual(s.totals, { requests: 12, hits: 7, bytesFromCache: 6000 + 500 + 200 })
    assert.equal(s.window.requests, 12)
    assert.equal(s.window.hitRatio, 7 / 11)
    assert.equal(s.window.bytesFromCache, 6700)
    assert.deepEqual(
      s.routes.map((r) => [r.name, r.requests, r.hitRatio]),
      [
        ['product', 10, 7 / 10],
        ['api', 2, 0],
      ],
    )
    assert.equal(s.pid, process.pid)
    assert.equal(s.at, clock.now())
  })

  test('requests per second averages the last rateSeconds; the window forgets what is older', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    for (let i = 0; i < 30; i++) request('a', 'hit')
    clock.advance(15_000)
    for (let i = 0; i < 20; i++) request('a', 'miss')
    let s = status.snapshot()
    assert.equal(s.window.requests, 50)
    assert.equal(s.window.requestsPerSecond, 20 / 10)
    assert.equal(s.window.hitRatio, 30 / 50)

    clock.advance(50_000) // the first 30 are now 65 s old, the 20 are 50 s old
    s = status.snapshot()
    assert.equal(s.window.requests, 20)
    assert.equal(s.window.requestsPerSecond, 0)
    assert.equal(s.window.hitRatio, 0)
    assert.equal(s.totals.requests, 50)

    clock.advance(60_000)
    s = status.snapshot()
    assert.equal(s.window.requests, 0)
    assert.equal(s.window.hitRatio, null)
    assert.equal(s.window.p50Ms, null)
    assert.deepEqual(s.routes, [])
    assert.equal(s.totals.requests, 50)
  })

  test('a bucket reused a window later starts from zero', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    request('a', 'hit')
    clock.advance(60_000) // same slot of the ring, one window later
    request('a', 'miss')
    const s = status.snapshot()
    assert.equal(s.window.requests, 1)
    assert.equal(s.window.hitRatio, 0)
  })

  test('p50 and p99 come from the latency histogram, within its √2 bin width', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    for (let i = 0; i < 97; i++) request('a', 'hit', 2)
    for (let i = 0; i < 3; i++) request('slow', 'miss', 500)
    const s = status.snapshot()
    const within = (value: number | null, expected: number) => {
      assert.ok(
        value !== null && value > expected / Math.SQRT2 && value <= expected * Math.SQRT2,
        `${value} ≈ ${expected}`,
      )
    }
    within(s.window.p50Ms, 2)
    within(s.window.p99Ms, 500)
    within(s.routes.find((r) => r.name === 'a')?.p99Ms ?? null, 2)
    within(s.routes.find((r) => r.name === 'slow')?.p99Ms ?? null, 500)
  })

  test('route names past maxRoutes share one row, so memory stays bounded; ties sort by name', () => {
    const clock = createFakeClock()
    const status = tracker(clock, { maxRoutes: 2 })
    for (const route of ['a', 'b', 'c', 'd', 'a']) request(route, 'hit')
    const s = status.snapshot()
    assert.deepEqual(
      s.routes.map((r) => [r.name, r.requests]),
      [
        [otherRoutes, 2],
        ['a', 2],
        ['b', 1],
      ],
    )
  })

  test('keeps the last 20 purges, newest first', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    for (let i = 0; i < 25; i++) purge(`tags: t${i}`, i, 1000 + i, i % 2 === 1)
    const { purges } = status.snapshot()
    assert.equal(purges.length, 20)
    assert.deepEqual(purges[0], {
      id: 'p1024',
      at: 1024,
      kinds: ['tag'],
      summary: 'tags: t24',
      purged: 24,
      soft: false,
      source: 'admin',
    })
    assert.deepEqual(purges[19], {
      id: 'p1005',
      at: 1005,
      kinds: ['tag'],
      summary: 'tags: t5',
      purged: 5,
      soft: true,
      source: 'admin',
    })
  })

  test('a long purge summary is cut to 500 characters', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    purge(`tags: ${'x'.repeat(2000)}`)
    const summary = status.snapshot().purges[0]?.summary ?? ''
    assert.equal(summary.length, 500)
    assert.ok(summary.endsWith('…'))
  })

  test('upstream state follows the last answer; errors in the window are counted', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    const upstream = (message: UpstreamFinished) => publish(events.upstreamFinished, message)
    assert.deepEqual(status.snapshot().upstreams, [
      {
        name: 'origin',
        state: 'unknown',
        requests: 0,
        errors: 0,
        lastStatus: null,
        lastError: null,
        lastAt: null,
      },
    ])
    upstream({ upstream: 'origin', status: 200, durationMs: 3, error: undefined })
    clock.advance(1_000)
    upstream({ upstream: 'origin', status: undefined, durationMs: 3, error: 'refused' })
    assert.deepEqual(status.snapshot().upstreams, [
      {
        name: 'origin',
        state: 'failing',
        requests: 2,
        errors: 1,
        lastStatus: null,
        lastError: 'refused',
        lastAt: clock.now(),
      },
    ])
    upstream({ upstream: 'origin', status: 503, durationMs: 3, error: undefined })
    assert.equal(status.snapshot().upstreams[0]?.state, 'up')
  })

  test('each server of each pool has a row: its state now, and its requests and failures in the window', () => {
    const clock = createFakeClock()
    const now = (url: string, state: ServerState['state'], active: number): ServerState => ({
      upstream: 'app',
      url,
      weight: 1,
      backup: url.endsWith(':3'),
      state,
      active,
      connections: active + 1,
      ejections: state === 'ejected' ? 1 : 0,
      lastError: state === 'up' ? null : 'refused',
      lastAt: state === 'up' ? null : clock.now(),
    })
    const servers = [now('http://s:1', 'up', 2), now('http://s:2', 'ejected', 0), now('http://s:3', 'up', 0)]
    const status = tracker(clock, { servers: () => servers })
    const upstream = (server: string | undefined, error?: UpstreamFinished['error']) =>
      publish<UpstreamFinished>(events.upstreamFinished, {
        upstream: 'app',
        server,
        status: error === undefined ? 200 : undefined,
        durationMs: 1,
        error,
      })
    upstream('http://s:1')
    upstream('http://s:2', 'refused')
    upstream('http://s:2', 'timeout')
    // A publisher that does not know the server counts for the pool only.
    upstream(undefined)
    assert.deepEqual(
      status.snapshot().servers.map((s) => [s.url, s.state, s.active, s.connections, s.requests, s.failures]),
      [
        ['http://s:1', 'up', 2, 3, 1, 0],
        ['http://s:2', 'ejected', 0, 1, 2, 2],
        ['http://s:3', 'up', 0, 1, 0, 0],
      ],
    )
    assert.equal(status.snapshot().upstreams.find((u) => u.name === 'app')?.requests, 4)
    // The window forgets; the state is read anew at each snapshot.
    clock.advance(61_000)
    servers[1] = now('http://s:2', 'up', 0)
    assert.deepEqual(
      status.snapshot().servers.map((s) => [s.url, s.state, s.requests, s.failures]),
      [
        ['http://s:1', 'up', 0, 0],
        ['http://s:2', 'up', 0, 0],
        ['http://s:3', 'up', 0, 0],
      ],
    )
    // Without pools to report, no rows.
    assert.deepEqual(tracker(clock).snapshot().servers, [])
  })

  test('a storage error in the window marks the store degraded', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    assert.deepEqual(status.snapshot().stores, [
      {
        name: 'memory',
        state: 'up',
        entries: 3,
        bytes: 4096,
        maxBytes: null,
        fill: null,
        fileBytes: null,
        tags: 2,
        evictions: 0,
        evictionsTotal: 0,
        errors: 0,
      },
    ])
    publish<StorageError>(events.storageError, { store: 'memory', op: 'get' })
    assert.equal(status.snapshot().stores[0]?.state, 'degraded')
    assert.equal(status.snapshot().stores[0]?.errors, 1)
    clock.advance(61_000)
    assert.equal(status.snapshot().stores[0]?.state, 'up')
  })

  test('close() stops counting', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    request('a', 'hit')
    status.close()
    request('a', 'hit')
    purge('tags: x')
    assert.equal(status.snapshot().totals.requests, 1)
    assert.deepEqual(status.snapshot().purges, [])
  })

  test('refuses bad options with the field named', () => {
    const clock = createFakeClock()
    const make = (options: object) => () =>
      createStatusTracker({ clock, storeStats: () => stats, upstreamName: 'x', version: '1', ...options })
    assert.throws(
      make({ windowSeconds: 0 }),
      /status tracker: windowSeconds must be a positive integer, got 0/,
    )
    assert.throws(make({ maxRoutes: 1.5 }), /maxRoutes must be a positive integer, got 1.5/)
    assert.throws(
      make({ windowSeconds: 5, rateSeconds: 10 }),
      /rateSeconds must be at most windowSeconds \(5\), got 10/,
    )
    assert.throws(
      make({ historyIntervalSeconds: 7 }),
      /historySeconds must be a multiple of historyIntervalSeconds \(7\), got 3600/,
    )
    assert.throws(make({ historySeconds: 0 }), /historySeconds must be a positive integer, got 0/)
  })

  test('counts 5xx and 4xx answers and bytes sent, per route and in the window', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    request('api', 'miss', 1, 1000, 200)
    request('api', 'pass', 1, 20, 502)
    request('api', 'pass', 1, 30, 503)
    request('api', undefined, 1, 0, 499) // the client went away first
    request('img', 'hit', 1, 5000, 404)
    const s = status.snapshot()
    assert.deepEqual(
      s.routes.map((r) => [r.name, r.errors5xx, r.errors4xx, r.bytes]),
      [
        ['api', 2, 1, 1050],
        ['img', 0, 1, 5000],
      ],
    )
    assert.deepEqual([s.window.errors5xx, s.window.errors4xx, s.window.bytes], [2, 2, 6050])
    clock.advance(61_000)
    const later = status.snapshot()
    assert.deepEqual([later.window.errors5xx, later.window.errors4xx, later.window.bytes], [0, 0, 0])
  })

  test('the store row has its bound, fill and file size, and the entries evicted to make room', () => {
    const clock = createFakeClock()
    const status = tracker(clock, { storeCapacity: () => ({ maxBytes: 16384, fileBytes: 65536 }) })
    const evicted = (reason: CacheEvicted['reason']) => publish<CacheEvicted>(events.cacheEvicted, { reason })
    evicted('evict')
    evicted('evict')
    // Expiry, purges and replacement are not the store being full.
    evicted('expire')
    evicted('delete')
    evicted('replace')
    clock.advance(61_000)
    evicted('evict')
    const [store] = status.snapshot().stores
    assert.deepEqual(
      [store?.maxBytes, store?.fill, store?.fileBytes, store?.evictions, store?.evictionsTotal],
      [16384, 4096 / 16384, 65536, 1, 3],
    )
  })

  test('version, Node.js version and uptime are in the snapshot', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    clock.advance(90_500)
    const s = status.snapshot()
    assert.equal(s.version, '9.8.7')
    assert.equal(s.node, process.version)
    assert.equal(s.startedAt, s.at - 90_500)
    assert.equal(s.uptimeSeconds, 90)
  })

  test('the history keeps a sample per 10 s for an hour, read like the window', () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    const start = clock.now()
    for (let i = 0; i < 4; i++) request('a', 'hit', 2)
    request('a', 'miss', 400)
    clock.advance(30_000)
    request('a', 'miss', 2)
    const { history } = status.snapshot()
    assert.equal(history.intervalSeconds, 10)
    assert.equal(history.seconds, 3600)
    assert.deepEqual(
      history.samples.map((x) => [x.requests, x.hitRatio]),
      [
        [5, 0.8],
        [1, 0],
      ],
    )
    const [first, second] = history.samples
    assert.equal(first?.at, Math.floor(start / 10_000) * 10_000)
    assert.equal(second?.at, Math.floor((start + 30_000) / 10_000) * 10_000)
    assert.ok(first?.p99Ms !== null && first!.p99Ms! > 200)
    // The window forgets after a minute; the history keeps the hour.
    clock.advance(600_000)
    const later = status.snapshot()
    assert.equal(later.window.requests, 0)
    assert.equal(later.history.samples.length, 2)
    clock.advance(3_600_000)
    assert.equal(status.snapshot().history.samples.length, 0)
  })

  test('each purge carries its source; those after unsafe methods do not push the others out', () => {
    const clock = createFakeClock()
    const status = tracker(clock, { maxPurges: 2 })
    purge('tags: a', 1, 1, false, 'admin')
    purge('tags: b', 1, 2, false, 'cli')
    purge('urls: http://x/c', 1, 3, false, 'purge-method')
    for (let i = 0; i < 5; i++) purge(`urls: http://x/post${i}`, 0, 10 + i, false, 'unsafe-method')
    assert.deepEqual(
      status.snapshot().purges.map((p) => [p.summary, p.source]),
      [
        ['urls: http://x/post4', 'unsafe-method'],
        ['urls: http://x/post3', 'unsafe-method'],
        ['urls: http://x/c', 'purge-method'],
        ['tags: b', 'cli'],
      ],
    )
  })
})

describe('escaping helpers', () => {
  test('escapeHtml escapes the five HTML-significant characters', () => {
    assert.equal(
      escapeHtml(`<a href="x" title='y'>&</a>`),
      '&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;',
    )
  })

  test('jsonForScript cannot close its script element and parses back to the same value', () => {
    const value = { route: '</script><script>alert(1)</script><!--', sep: '\u2028\u2029', amp: '&amp;' }
    const text = jsonForScript(value)
    assert.doesNotMatch(text, /[<>&\u2028\u2029]/)
    assert.deepEqual(JSON.parse(text), value)
  })
})

describe('GET /status and /status.json on the admin listener', () => {
  const evil = '<script>alert(1)</script>'
  const evilSummary = 'tags: </script><img src=x onerror=alert(2)>'
  const clock = createFakeClock()
  let status: StatusTracker
  let server: AdminServer
  let url: string

  before(async () => {
    status = createStatusTracker({ clock, storeStats: () => stats, upstreamName: 'origin', version: '9.8.7' })
    const log = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) })
    server = createAdminServer({
      readiness: () => ({ ready: true, report: {} }),
      invalidator: createRecordingInvalidator(),
      tokens: ['a-token-of-sixteen-chars'],
      log,
      status,
    })
    const { port } = await server.listen('127.0.0.1', 0)
    url = `http://127.0.0.1:${port}`
  })
  after(async () => {
    status.close()
    await server.close()
    await closeClient()
  })

  test('the page is HTML with a strict CSP whose nonce is the inline script and style nonce', async () => {
    const reply = await send(`${url}/status`)
    assert.equal(reply.status, 200)
    assert.equal(reply.header('content-type'), 'text/html; charset=utf-8')
    assert.equal(reply.header('cache-control'), 'no-store')
    assert.equal(reply.header('x-content-type-options'), 'nosniff')
    const csp = reply.header('content-security-policy') ?? ''
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1]
    assert.ok(nonce !== undefined && nonce.length >= 16, csp)
    assert.equal(
      csp,
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; ` +
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    )
    // Two scripts: the JSON data (never executed) and the nonced code; one nonced style.
    assert.deepEqual(reply.text.match(/<script[^>]*>/g), [
      '<script type="application/json" id="initial">',
      `<script nonce="${nonce}">`,
    ])
    assert.deepEqual(reply.text.match(/<style[^>]*>/g), [`<style nonce="${nonce}">`])
    assert.doesNotMatch(reply.text, /\sstyle=|\son[a-z]+=/i, 'no inline style or event attributes')

    const again = await send(`${url}/status`)
    assert.notEqual(again.header('content-security-policy'), csp, 'a fresh nonce per response')
  })

  test('the page loads nothing from anywhere: no URL, no src, no link', async () => {
    const { text } = await send(`${url}/status`)
    // The nonce is random base64, which may hold "//" followed by a letter.
    const page = text.replaceAll(/nonce="[^"]*"/g, 'nonce=""')
    assert.doesNotMatch(page, /https?:|\/\/[a-z0-9]/i)
    assert.doesNotMatch(page, /\ssrc=|\shref=|<link|<img|<iframe|@import|url\(/i)
  })

  test('the token is asked for, never stored: no storage APIs, autocomplete off, POST form', async () => {
    const { text } = await send(`${url}/status`)
    assert.doesNotMatch(text, /localStorage|sessionStorage|document\.cookie|indexedDB/)
    assert.match(text, /<form id="purge-form" method="post" autocomplete="off">/)
    assert.match(text, /<input id="purge-token" name="token" type="password" autocomplete="off"/)
    assert.match(text, /worker pid <span id="pid">\d+<\/span>/)
  })

  test('a hostile route name and purge summary are escaped in the page and kept whole in the JSON', async () => {
    request(evil, 'hit')
    purge(evilSummary, 3, clock.now(), true)
    const page = await send(`${url}/status`)
    assert.ok(!page.text.includes(evil), 'the route name appears raw in the page')
    assert.ok(!page.text.includes('<img'), 'the purge summary appears raw in the page')
    assert.equal(page.text.match(/<\/script>/g)?.length, 2, 'no extra script element was closed or opened')
    const initial = /<script type="application\/json" id="initial">([^<]*)<\/script>/.exec(page.text)?.[1]
    assert.ok(initial !== undefined)
    const embedded = JSON.parse(initial) as { routes: { name: string }[]; purges: { summary: string }[] }
    assert.ok(embedded.routes.some((r) => r.name === evil))
    assert.equal(embedded.purges[0]?.summary, evilSummary)

    const json = await send(`${url}/status.json`)
    assert.equal(json.status, 200)
    assert.equal(json.header('content-type'), 'application/json')
    assert.equal(json.header('x-content-type-options'), 'nosniff')
    assert.equal(json.header('cache-control'), 'no-store')
    const body = JSON.parse(json.text) as {
      routes: { name: string }[]
      purges: { summary: string; soft: boolean }[]
    }
    assert.ok(body.routes.some((r) => r.name === evil))
    assert.deepEqual(body.purges[0], {
      id: `p${clock.now()}`,
      at: clock.now(),
      kinds: ['tag'],
      summary: evilSummary,
      purged: 3,
      soft: true,
      source: 'admin',
    })
  })

  test('HEAD answers without a body; other methods get 405', async () => {
    const head = await send(`${url}/status`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.body.length, 0)
    const post = await send(`${url}/status`, { method: 'POST', body: 'token=x' })
    assert.equal(post.status, 405)
    assert.equal(post.header('allow'), 'GET, HEAD')
    const put = await send(`${url}/status.json`, { method: 'PUT' })
    assert.equal(put.status, 405)
  })

  test('without a tracker the admin listener has no status routes', async () => {
    const bare = createAdminServer({
      readiness: () => ({ ready: true, report: {} }),
      invalidator: createRecordingInvalidator(),
      tokens: [],
      log: createLogger({ level: 'silent' }),
    })
    const { port } = await bare.listen('127.0.0.1', 0)
    try {
      assert.equal((await send(`http://127.0.0.1:${port}/status`)).status, 404)
    } finally {
      await bare.close()
    }
  })
})

describe('/status summed over workers', () => {
  /** An admin listener whose status source answers `snapshot` (or rejects). */
  async function withAdmin(snapshot: () => Promise<StatusSnapshot>, run: (url: string) => Promise<void>) {
    const server = createAdminServer({
      readiness: () => ({ ready: true, report: {} }),
      invalidator: createRecordingInvalidator(),
      tokens: [],
      log: createLogger({ level: 'silent' }),
      status: { snapshot },
    })
    const { port } = await server.listen('127.0.0.1', 0)
    try {
      await run(`http://127.0.0.1:${port}`)
    } finally {
      await server.close()
      await closeClient()
    }
  }

  test('the page says how many workers it sums and which', async () => {
    const clock = createFakeClock()
    const status = tracker(clock)
    const summed: StatusSnapshot = { ...status.snapshot(), workers: 2, pids: [11, 12] }
    await withAdmin(
      async () => summed,
      async (url) => {
        const page = await send(`${url}/status`)
        assert.equal(page.status, 200)
        assert.match(page.text, /<span id="scope">summed over 2 workers \(pids 11, 12\)<\/span>/)
        const json = JSON.parse((await send(`${url}/status.json`)).text) as StatusSnapshot
        assert.equal(json.workers, 2)
        assert.deepEqual(json.pids, [11, 12])
      },
    )
    assert.match(renderStatusPage(status.snapshot(), 'n'), /<span id="scope">figures of this process<\/span>/)
  })

  test('when the workers’ sum cannot be had, /status and /status.json answer 503, not one worker’s figures', async () => {
    await withAdmin(
      () => Promise.reject(new Error('1 of 2 workers did not answer within 5000 ms')),
      async (url) => {
        for (const path of ['/status', '/status.json']) {
          const res = await send(`${url}${path}`)
          assert.equal(res.status, 503, path)
          assert.equal(JSON.parse(res.text).code, 'EC_ERR_ADMIN_STATUS_UNAVAILABLE')
        }
      },
    )
  })
})
