/**
 * Giving memory back after a busy spell (src/memory-release.ts), with the default workers:
 * each worker that served a burst runs its collection once the next window is quiet.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { freePort, proxyFlags, runEdgecache } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'

const RELEASED = 'memory given back after a busy spell'

interface ReleaseLine {
  readonly pid: number
  readonly msg: string
  readonly heapBeforeBytes: number
  readonly heapAfterBytes: number
  readonly residentBeforeBytes: number
  readonly residentAfterBytes: number
  readonly durationMs: number
}

test('a worker that served a burst gives memory back once it is quiet', async () => {
  const origin = await startOrigin()
  const port = await freePort()
  const adminPort = await freePort()
  const run = runEdgecache([...proxyFlags(origin.url, port, adminPort), '--log-level', 'debug'], {
    EDGECACHE_SERVER__IDLE_MEMORY_RELEASE: '1s',
  })
  after(async () => {
    if (run.child.exitCode === null) run.child.kill('SIGKILL')
    await closeClient()
    await origin.close()
  })
  const releases = () =>
    run
      .out()
      .split('\n')
      .filter((line) => line.includes(RELEASED))
      .map((line) => JSON.parse(line) as ReleaseLine)

  await waitFor(async () => {
    const res = await send(`http://127.0.0.1:${port}/ready-check`, {
      headers: { connection: 'close' },
    }).catch(() => undefined)
    return res?.status === 200
  }, 20_000)
  assert.deepEqual(releases(), [], 'nothing to give back before a busy spell')

  // A burst on new connections, as curl sends them: far more than one a second for any
  // worker the kernel gives them to.
  for (let i = 0; i < 60; i++) {
    const res = await send(`http://127.0.0.1:${port}/burst/${i}`, { headers: { connection: 'close' } })
    assert.equal(res.status, 200)
  }
  await waitFor(() => releases().length > 0, 15_000)
  const [release] = releases()
  assert.ok(release !== undefined)
  assert.ok(release.heapAfterBytes <= release.heapBeforeBytes, JSON.stringify(release))
  assert.ok(release.residentBeforeBytes > 0 && release.residentAfterBytes > 0, JSON.stringify(release))
  assert.ok(release.durationMs >= 0)
  run.child.kill('SIGTERM')
  assert.equal(await run.exited, 0)
  // Once per busy spell: each worker that served it released once, and no more.
  const perWorker = new Map<number, number>()
  for (const r of releases()) perWorker.set(r.pid, (perWorker.get(r.pid) ?? 0) + 1)
  assert.ok(perWorker.size <= 2)
  assert.deepEqual(
    [...perWorker.values()].filter((n) => n !== 1),
    [],
    run.out(),
  )
})
