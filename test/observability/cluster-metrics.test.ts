/**
 * /metrics with node:cluster workers: the edgecache command with `--workers 2`, requests
 * spread over both workers, and one scrape that answers with the sum over them.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { after, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'
import { startTwoWorkers } from '../support/workers.ts'
import { parsePrometheusText } from './prometheus-text.ts'

describe('metrics with two workers', () => {
  const running: ChildProcess[] = []
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
  })

  test('GET /metrics answers with the sum over both workers', async () => {
    const origin = await startOrigin()
    const { child, exited, adminPort, get, sent, warm } = await startTwoWorkers(origin)
    running.push(child)
    try {
      // One store for both workers: one miss, then hits on either.
      await warm(origin, '/w')
      for (let i = 0; i < 4; i++) await get('/w')

      // Each worker counts a request when its response has finished, a moment after the
      // client has it; and a worker still starting answers nothing, so a scrape may fail.
      let text = ''
      await waitFor(async () => {
        const res = await send(`http://127.0.0.1:${adminPort}/metrics`, { headers: { connection: 'close' } })
        text = res.text
        return res.status === 200 && parsePrometheusText(text).sum('edgecache_requests_total') === sent()
      }, 20_000)
      const s = parsePrometheusText(text)
      const w = origin.count('/w')
      assert.equal(w, 1)
      const misses = origin.count('/warm') + w
      const labels = (cache: string) => ({ route: 'default', method: 'GET', status_class: '2xx', cache })
      assert.deepEqual(s.series('edgecache_requests_total'), [
        'cache=hit,method=GET,route=default,status_class=2xx',
        'cache=miss,method=GET,route=default,status_class=2xx',
      ])
      assert.equal(s.value('edgecache_requests_total', labels('miss')), misses)
      assert.equal(s.value('edgecache_requests_total', labels('hit')), sent() - misses)
      // Histograms are summed bucket by bucket.
      const hits = { route: 'default', cache: 'hit' }
      assert.equal(s.value('edgecache_request_duration_seconds_count', hits), sent() - misses)
      assert.equal(
        s.value('edgecache_request_duration_seconds_bucket', { ...hits, le: '+Inf' }),
        sent() - misses,
      )
      assert.equal(
        s.value('edgecache_upstream_requests_total', { upstream: 'default', status_class: '2xx' }),
        misses,
      )
      // The shared store holds /warm and /w once; each worker reads the same figure, and the
      // sum over workers keeps one of them.
      assert.equal(s.value('edgecache_cache_objects'), 2)
      assert.ok(s.value('edgecache_cache_max_bytes') > 0)
      assert.ok(s.value('edgecache_cache_file_bytes') > 0)
      // Up is the minimum over workers, not their sum.
      assert.equal(s.value('edgecache_storage_up', { store: 'local' }), 1)
      assert.ok(s.value('process_resident_memory_bytes') > 0)

      await closeClient()
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      await origin.close()
    }
  })
})
