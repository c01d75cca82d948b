/**
 * /status and /status.json with node:cluster workers: the edgecache command with
 * `--workers 2`, requests spread over both workers, and every status answer, whichever
 * worker gives it, shows the sum over both: the window, the charts' history, per-route
 * errors and bytes, the shared store's bound and evictions, each purge's source, and the
 * backend server's row.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { after, describe, test } from 'node:test'
import type { StatusSnapshot } from '../../src/admin/status-snapshot.ts'
import { parseArgs } from '../../src/cli/args.ts'
import { runPurge } from '../../src/cli/purge.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'
import { startTwoWorkers } from '../support/workers.ts'

describe('status with two workers', () => {
  const running: ChildProcess[] = []
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
  })

  test('GET /status.json answers with the sum over both workers, whichever one answers', async () => {
    const origin = await startOrigin()
    const token = 'cluster-status-token-01'
    const {
      child,
      exited,
      port,
      adminPort,
      get,
      sent: sentSoFar,
      warm,
    } = await startTwoWorkers(origin, {
      EDGECACHE_ADMIN_TOKEN: token,
    })
    running.push(child)
    try {
      // One store for both workers: one miss, then hits on either.
      await warm(origin, '/w')
      for (let i = 0; i < 5; i++) await get('/w')

      // One purge, received by one worker, of the one shared store: one row in the sum.
      const purge = await send(`http://127.0.0.1:${adminPort}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify({ urls: [`http://127.0.0.1:${port}/w`] }),
      })
      assert.equal(purge.status, 200)
      assert.equal(JSON.parse(purge.text).purged, 1)

      const status = async () => {
        const res = await send(`http://127.0.0.1:${adminPort}/status.json`, {
          headers: { connection: 'close' },
        })
        return {
          code: res.status,
          body: res.status === 200 ? (JSON.parse(res.text) as StatusSnapshot) : undefined,
        }
      }
      const sent = sentSoFar()
      // A worker counts a request when its response has finished, a moment after the client has it.
      await waitFor(async () => (await status()).body?.totals.requests === sent, 20_000)

      // Each answer comes from either worker; every one must show both workers' sum. Ask
      // until both have answered (new connections alternate between them), with a bound.
      const misses = origin.count()
      const answeredBy = new Set<number>()
      for (let i = 0; i < 40 && answeredBy.size < 2; i++) {
        const { code, body: s } = await status()
        assert.equal(code, 200)
        assert.ok(s !== undefined)
        answeredBy.add(s.pid)
        assert.equal(s.workers, 2)
        assert.equal(s.pids?.length, 2)
        assert.ok(s.pids?.includes(s.pid))
        assert.equal(s.totals.requests, sent)
        assert.equal(s.totals.hits, sent - misses)
        assert.equal(s.window.requests, sent)
        assert.equal(s.window.hitRatio, (sent - misses) / sent)
        assert.deepEqual(
          s.routes.map((r) => [r.name, r.requests]),
          [['default', sent]],
        )
        assert.ok(s.window.p99Ms !== null && s.window.p99Ms > 0)
        // The origin's row: every miss of either worker reached it, none failed, none is on its way.
        assert.deepEqual(
          s.servers.map((x) => [x.upstream, x.url, x.state, x.requests, x.failures, x.active]),
          [['default', origin.url, 'up', misses, 0, 0]],
        )
        // /w was purged; what is left is /warm, once in the store both workers share, and
        // every worker reports that same figure rather than its own part of a sum.
        assert.equal(s.stores[0]?.entries, 1)
        assert.deepEqual(
          s.purges.map((p) => [p.purged, p.summary]),
          [[1, `urls: http://127.0.0.1:${port}/w`]],
        )
      }
      assert.equal(answeredBy.size, 2, 'both workers answered')

      const page = await send(`http://127.0.0.1:${adminPort}/status`, { headers: { connection: 'close' } })
      assert.equal(page.status, 200)
      assert.match(page.text, /summed over 2 workers/)

      await closeClient()
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      await origin.close()
    }
  })

  test('the charts’ history, per-route errors and bytes, the store’s bound and evictions, and purge sources are summed', async () => {
    const origin = await startOrigin((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('posted')
        return
      }
      const url = req.url ?? ''
      const status = url === '/missing' ? 404 : url === '/broken' ? 500 : 200
      res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'max-age=600' })
      // 4 KiB each under /big/: 40 of them overflow the 64 KiB store.
      res.end(url.startsWith('/big/') ? 'b'.repeat(4096) : `body of ${url}`)
    })
    const token = 'cluster-status-token-02'
    const workers = await startTwoWorkers(origin, {
      EDGECACHE_ADMIN_TOKEN: token,
      EDGECACHE_STORAGE__LOCAL__MAX_BYTES: '64KiB',
      EDGECACHE_STORAGE__LOCAL__MAX_OBJECT_BYTES: '16KiB',
    })
    running.push(workers.child)
    const admin = `http://127.0.0.1:${workers.adminPort}`
    try {
      await workers.warm(origin, '/w')
      // What warm() sent: '/warm' until both workers served, then '/w' once.
      let bytes = (workers.sent() - 1) * 'body of /warm'.length + 'body of /w'.length
      const get = async (path: string) => {
        bytes += (await workers.get(path)).body.length
      }
      for (const path of ['/missing', '/missing', '/broken', '/broken', '/broken']) await get(path)
      for (let i = 0; i < 40; i++) await get(`/big/${i}`)
      for (let i = 0; i < 5; i++) await get('/w')
      // One invalidation of each source a client can send.
      const post = await send(`http://127.0.0.1:${workers.port}/form`, {
        method: 'POST',
        headers: { connection: 'close' },
        body: 'a=1',
      })
      assert.equal(post.status, 200)
      const sent = workers.sent() + 1
      const purged = await send(`${admin}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify({ tags: ['from-admin'] }),
      })
      assert.equal(purged.status, 200)
      const cli = await runPurge(
        parseArgs(['purge', '--tag', 'from-cli', '--admin', admin, '--token', token]),
        {},
        { write: () => true },
        { write: () => true },
      )
      assert.equal(cli, 0)

      const status = async () => {
        const res = await send(`${admin}/status.json`, { headers: { connection: 'close' } })
        assert.equal(res.status, 200)
        return JSON.parse(res.text) as StatusSnapshot
      }
      await waitFor(async () => (await status()).totals.requests === sent, 20_000)
      // Both workers' evictions, as /metrics sums them: each eviction is counted once, by the
      // worker whose write made room.
      const metrics = await send(`${admin}/metrics`, { headers: { connection: 'close' } })
      const evicted = Number(
        /^edgecache_cache_evictions_total\{reason="evict"\} (\d+)$/m.exec(metrics.text)?.[1],
      )
      assert.ok(evicted > 0, 'the small store evicted')
      const version = (
        JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
          version: string
        }
      ).version

      const answeredBy = new Set<number>()
      for (let i = 0; i < 40 && answeredBy.size < 2; i++) {
        const s = await status()
        answeredBy.add(s.pid)
        assert.equal(s.workers, 2)
        // Every request of the last hour is in the charts' history, whichever worker served it.
        assert.equal(
          s.history.samples.reduce((n, x) => n + x.requests, 0),
          sent,
        )
        for (const x of s.history.samples) assert.equal(x.at % 10_000, 0)
        const [route] = s.routes
        assert.deepEqual(
          [route?.name, route?.requests, route?.errors4xx, route?.errors5xx],
          ['default', sent, 2, 3],
        )
        assert.equal(route?.bytes, bytes + 'posted'.length)
        assert.equal(s.window.errors5xx, 3)
        assert.equal(s.window.errors4xx, 2)

        // One file and one bound for both workers: the bound is not doubled.
        const [store] = s.stores
        assert.equal(store?.name, 'local')
        assert.equal(store?.maxBytes, 64 * 1024)
        assert.ok((store?.fileBytes ?? 0) > 0)
        assert.equal(store?.fill, (store?.bytes ?? 0) / (64 * 1024))
        assert.equal(store?.evictionsTotal, evicted)
        // All inside the last minute unless this machine is very slow: the window may have lost some.
        assert.ok((store?.evictions ?? 0) > 0 && (store?.evictions ?? 0) <= evicted)

        assert.equal(s.version, version)
        assert.equal(s.node, process.version)
        assert.ok(s.uptimeSeconds >= 0 && s.startedAt <= s.at)
        // Each once, though both workers reported; the admin and CLI calls may share a millisecond.
        assert.deepEqual(s.purges.map((p) => [p.source, p.summary]).sort(), [
          ['admin', 'tags: from-admin'],
          ['cli', 'tags: from-cli'],
          ['unsafe-method', `urls: http://127.0.0.1:${workers.port}/form`],
        ])
      }
      assert.equal(answeredBy.size, 2, 'both workers answered')

      await closeClient()
      workers.child.kill('SIGTERM')
      assert.equal(await workers.exited, 0)
    } finally {
      await origin.close()
    }
  })
})
