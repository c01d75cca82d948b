/**
 * Every worker accepts new connections itself (src/workers.ts): with one worker stopped, the
 * other takes every new connection. With node:cluster's round-robin the primary hands one
 * of them to the stopped worker, where it waits until that worker runs again.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { after, describe, test } from 'node:test'
import type { StatusSnapshot } from '../../src/admin/status-snapshot.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'
import { startTwoWorkers } from '../support/workers.ts'

describe('shared accept', () => {
  const running: ChildProcess[] = []
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
  })

  test('a stopped worker holds no new connection: the other worker answers each', async () => {
    const origin = await startOrigin()
    const workers = await startTwoWorkers(origin)
    running.push(workers.child)
    let stopped: number | undefined
    try {
      await workers.warm(origin, '/w')
      let pids: readonly number[] = []
      await waitFor(async () => {
        const res = await send(`http://127.0.0.1:${workers.adminPort}/status.json`, {
          headers: { connection: 'close' },
        })
        pids = (JSON.parse(res.text) as StatusSnapshot).pids ?? []
        return pids.length === 2
      }, 20_000)
      await closeClient()
      stopped = pids[0]!
      process.kill(stopped, 'SIGSTOP')

      // Each on a new connection, one after another, as curl would send them. The bound is
      // only there to end the test if a connection waits for the stopped worker.
      const statuses: number[] = []
      for (let i = 0; i < 8; i++) {
        const res = await send(`http://127.0.0.1:${workers.port}/w`, {
          headers: { connection: 'close' },
          signal: AbortSignal.timeout(10_000),
        }).catch((error: Error) => ({ status: error.name }))
        statuses.push(res.status as number)
      }
      assert.deepEqual(statuses, Array(8).fill(200))
      assert.equal(origin.count('/w'), 1, 'every answer was a hit from the shared store')

      process.kill(stopped, 'SIGCONT')
      stopped = undefined
      await closeClient()
      workers.child.kill('SIGTERM')
      assert.equal(await workers.exited, 0)
    } finally {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT')
      await origin.close()
    }
  })
})
