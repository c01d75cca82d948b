/**
 * /ready flips with the backend's health, and access lines carry the fields operators
 * search by, without the query string unless configured.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'
import { startProxy } from '../support/proxy.ts'

describe('readiness', () => {
  after(closeClient)

  test('GET /ready answers 200 with stores and upstreams, and stays 200, degraded, once the backend is gone', async () => {
    const origin = await startOrigin()
    const proxy = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_UPSTREAM__HEALTH_CHECK_INTERVAL: '50ms' },
    })
    try {
      const ready = await send(`${proxy.adminUrl}/ready`)
      assert.equal(ready.status, 200)
      const report = JSON.parse(ready.text)
      assert.equal(report.status, 'ready')
      assert.equal(report.stores[0].name, 'local')
      assert.equal(report.stores[0].state, 'up')
      assert.equal(report.stores[0].entries, 0)
      assert.equal(report.stores[0].bytes, 0)
      assert.equal(report.stores[0].maxBytes, 1024 ** 3)
      assert.equal(typeof report.stores[0].fileBytes, 'number')
      assert.equal(report.upstreams[0].healthy, true)
      assert.equal(report.upstreams[0].inFlight, 0)
      assert.equal(typeof report.worker.pid, 'number')

      await origin.close()
      // the active check (every 50 ms here) notices; the bound is generous
      await waitFor(
        async () => JSON.parse((await send(`${proxy.adminUrl}/ready`)).text).status === 'degraded',
      )
      const reply = await send(`${proxy.adminUrl}/ready`)
      // The cache can still serve what it holds: not a reason to be pulled from rotation.
      assert.equal(reply.status, 200)
      const down = JSON.parse(reply.text)
      assert.equal(down.status, 'degraded')
      assert.equal(down.upstreams[0].healthy, false)
      assert.match(down.upstreams[0].lastError, /^E[A-Z]+/)
      assert.equal((await send(`${proxy.adminUrl}/health`)).status, 200)
    } finally {
      await proxy.close()
    }
  })

  test('with readiness.requireUpstream, a backend that is gone makes /ready 503', async () => {
    const origin = await startOrigin()
    const proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_UPSTREAM__HEALTH_CHECK_INTERVAL: '50ms',
        EDGECACHE_READINESS__REQUIRE_UPSTREAM: 'true',
      },
    })
    try {
      assert.equal((await send(`${proxy.adminUrl}/ready`)).status, 200)
      await origin.close()
      await waitFor(async () => (await send(`${proxy.adminUrl}/ready`)).status === 503)
      assert.equal(JSON.parse((await send(`${proxy.adminUrl}/ready`)).text).status, 'degraded')
    } finally {
      await proxy.close()
    }
  })
})

describe('access lines', () => {
  after(closeClient)

  test('one JSON line per request with the documented fields, query left out by default', async () => {
    const origin = await startOrigin()
    const proxy = await startProxy({ upstream: origin.url })
    try {
      await send(`${proxy.url}/page?token=secret`, {
        headers: { 'x-request-id': 'abc-1', authorization: 'Bearer nope' },
      })
      await waitFor(() => proxy.logs.some((l) => l.reqId === 'abc-1'))
      const line = proxy.logs.find((l) => l.reqId === 'abc-1')!
      for (const field of [
        'time',
        'method',
        'host',
        'path',
        'route',
        'status',
        'cacheStatus',
        'bytes',
        'upstreamStatus',
        'upstreamMs',
        'totalMs',
        'client',
      ]) {
        assert.ok(field in line, `access line has ${field}`)
      }
      assert.equal(line.path, '/page')
      assert.equal(line.status, 200)
      assert.equal(line.cacheStatus, 'pass')
      assert.doesNotMatch(JSON.stringify(proxy.logs), /secret|Bearer nope/)
    } finally {
      await proxy.close()
      await origin.close()
    }
  })

  test('the query string is kept when configured, and access lines can be turned off', async () => {
    const origin = await startOrigin()
    const withQuery = await startProxy({ upstream: origin.url, env: { EDGECACHE_LOG__ACCESS_QUERY: 'true' } })
    const silent = await startProxy({ upstream: origin.url, env: { EDGECACHE_LOG__ACCESS: 'false' } })
    try {
      await send(`${withQuery.url}/q?a=1`, { headers: { 'x-request-id': 'q-1' } })
      await waitFor(() => withQuery.logs.some((l) => l.reqId === 'q-1'))
      assert.equal(withQuery.logs.find((l) => l.reqId === 'q-1')?.path, '/q?a=1')

      await send(`${silent.url}/q`, { headers: { 'x-request-id': 's-1' } })
      await send(`${silent.url}/q`, { headers: { 'x-request-id': 's-2' } })
      // A line logged after those requests finished: had they logged, their lines came first.
      await send(`${silent.adminUrl}/invalidate`, { method: 'POST', body: '{}' })
      await waitFor(() => silent.logs.some((l) => /invalidation refused/.test(String(l.msg))))
      assert.equal(silent.logs.filter((l) => l.msg === 'request').length, 0)
    } finally {
      await withQuery.close()
      await silent.close()
      await origin.close()
    }
  })

  test('log.accessFormat combined writes NCSA combined lines, without queries or credentials', async () => {
    const origin = await startOrigin()
    const proxy = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_LOG__ACCESS_FORMAT: 'combined' },
    })
    try {
      await send(`${proxy.url}/c/1?token=secret`, {
        headers: {
          'user-agent': 'probe "quoted"',
          referer: 'http://shop.example/from?session=secret',
          authorization: 'Bearer nope',
          cookie: 'sid=nope',
        },
      })
      await waitFor(() => proxy.lines.some((l) => l.includes('/c/1')))
      const line = proxy.lines.find((l) => l.includes('/c/1'))!
      assert.match(
        line,
        /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/c\/1 HTTP\/1\.1" 200 \d+ "http:\/\/shop\.example\/from" "probe \\x22quoted\\x22"$/,
      )
      assert.doesNotMatch(proxy.lines.join('\n'), /secret|nope/)
      // The other lines stay JSON.
      assert.ok(proxy.logs.some((l) => l.msg === 'edgecache listening'))
    } finally {
      await proxy.close()
      await origin.close()
    }
  })
})
