/**
 * /status and /status.json with node:cluster workers: the edgecache command with
 * `--workers 2`, requests spread over both workers, and every status answer, whichever
 * worker gives it, shows the sum over both.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { after, describe, test } from 'node:test'
import type { StatusSnapshot } from '../../src/admin/status-snapshot.ts'
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
})
