/**
 * Fills at the origin's pace, with the default workers: a client that does not read holds
 * neither the origin connection nor the other clients of the same URL.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { closeClient, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startTwoWorkers, type TwoWorkers } from '../support/workers.ts'

const BIG = 8_000_000

describe('a fill read at the origin pace', () => {
  let origin: Origin
  let workers: TwoWorkers
  let finishedAt: number | undefined
  const body = Buffer.alloc(BIG, 'x')

  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url !== '/big') {
        res.writeHead(200, { 'cache-control': 'max-age=60' }).end('small')
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(BIG) })
      res.once('finish', () => {
        finishedAt = performance.now()
      })
      res.end(body)
    })
    workers = await startTwoWorkers(origin)
    await workers.warm(origin, '/warm-up')
  })

  after(async () => {
    workers?.child.kill('SIGTERM')
    await workers?.exited
    await origin?.close()
    await closeClient()
  })

  test('a client that never reads an 8 MB miss: the origin finishes, and the next client gets it all at once', async () => {
    const stalled = connect(workers.port, '127.0.0.1')
    await new Promise<void>((resolve) => stalled.once('connect', resolve))
    stalled.pause()
    stalled.write(`GET /big HTTP/1.1\r\nHost: 127.0.0.1:${workers.port}\r\n\r\n`)
    try {
      // The origin's whole answer is read by edgecache while this client reads nothing.
      await waitFor(() => finishedAt !== undefined, 20_000)
      assert.ok(stalled.bytesRead < BIG / 2, `the stalled client read ${stalled.bytesRead} bytes`)
      const next = await workers.get('/big')
      const tookMs = performance.now() - finishedAt!
      assert.equal(next.status, 200)
      assert.equal(next.body.length, BIG)
      assert.ok(next.body.equals(body))
      // About 0.2 s on a quiet machine, 1–2 s under heavy load; before fills read at the
      // origin's pace it was the collapse timeout, 30 s. The bound is generous on purpose.
      assert.ok(
        tookMs < 5_000,
        `the second client had its answer ${Math.round(tookMs)} ms after the origin finished`,
      )
      assert.equal(origin.count('/big'), 1)
    } finally {
      stalled.destroy()
    }
  })
})
