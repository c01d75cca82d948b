/**
 * The primary restarts a worker that dies, and kills and restarts one that stops answering:
 * the edgecache command with `--workers 2`, one worker killed or stopped, a new one forked
 * in its place that serves, and the primary saying so.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { after, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'
import { bothWorkerPids, startTwoWorkers, workerPids } from '../support/workers.ts'

describe('worker restart', () => {
  const running: ChildProcess[] = []
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
  })

  test('a worker that dies is replaced by a new one, and the proxy keeps answering', async () => {
    const origin = await startOrigin()
    const workers = await startTwoWorkers(origin)
    running.push(workers.child)
    try {
      await workers.warm(origin, '/w')
      const pids = () => workerPids(workers.adminPort)
      const before = await bothWorkerPids(workers.adminPort)
      const victim = before[0]!
      process.kill(victim, 'SIGKILL')

      let after: readonly number[] = []
      await waitFor(async () => {
        after = (await pids()) ?? []
        return after.length === 2 && !after.includes(victim)
      }, 20_000)
      assert.ok(after.includes(before[1]!), 'the other worker kept running')
      assert.equal((await workers.get('/w')).status, 200)
      assert.match(workers.output(), /worker exited, restarting/)
      assert.match(workers.output(), new RegExp(`"pid":${victim}`))

      await closeClient()
      workers.child.kill('SIGTERM')
      assert.equal(await workers.exited, 0)
    } finally {
      await origin.close()
    }
  })

  test('when every worker dies at once, the primary stays and starts new ones', async () => {
    const origin = await startOrigin()
    const workers = await startTwoWorkers(origin)
    running.push(workers.child)
    try {
      await workers.warm(origin, '/w')
      const before = await bothWorkerPids(workers.adminPort)
      for (const pid of before) process.kill(pid, 'SIGKILL')

      let after: readonly number[] = []
      await waitFor(async () => {
        after = (await workerPids(workers.adminPort)) ?? []
        return after.length === 2 && after.every((pid) => !before.includes(pid))
      }, 20_000)
      assert.equal(workers.child.exitCode, null, 'the primary is still running')
      assert.equal((await workers.get('/w')).status, 200)

      await closeClient()
      workers.child.kill('SIGTERM')
      assert.equal(await workers.exited, 0)
    } finally {
      await origin.close()
    }
  })

  test('a worker that stops answering is killed and replaced, and new connections are answered', async () => {
    const origin = await startOrigin()
    const workers = await startTwoWorkers(origin, { EDGECACHE_SERVER__WORKER_STALL_TIMEOUT: '1s' })
    running.push(workers.child)
    let stopped: number | undefined
    try {
      await workers.warm(origin, '/w')
      const pids = () => workerPids(workers.adminPort)
      const before = await bothWorkerPids(workers.adminPort)
      // A stopped process stands for a worker stuck in a loop: alive, answering nothing.
      stopped = before[0]!
      process.kill(stopped, 'SIGSTOP')

      let after: readonly number[] = []
      await waitFor(async () => {
        after = (await pids()) ?? []
        return after.length === 2 && !after.includes(stopped!)
      }, 20_000)
      assert.match(workers.output(), /worker stalled, killing it/)
      assert.match(workers.output(), new RegExp(`"pid":${stopped}`))
      stopped = undefined
      assert.ok(after.includes(before[1]!), 'the other worker kept running')
      // Each on a new connection: none waits in the stuck worker's queue any more.
      for (let i = 0; i < 8; i++) {
        const res = await send(`http://127.0.0.1:${workers.port}/w`, {
          headers: { connection: 'close' },
          signal: AbortSignal.timeout(10_000),
        })
        assert.equal(res.status, 200)
      }

      await closeClient()
      workers.child.kill('SIGTERM')
      assert.equal(await workers.exited, 0)
    } finally {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT')
      await origin.close()
    }
  })
})
