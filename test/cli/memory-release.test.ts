/**
 * Giving memory back after a busy spell (src/memory-release.ts), with the default workers:
 * every process (the primary and both workers) once start-up has passed, and each worker
 * that served a burst again once the next window is quiet.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { freePort, proxyFlags, runEdgecache } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'

const RELEASED = 'memory given back'

interface ReleaseLine {
  readonly pid: number
  readonly msg: string
  readonly heapBeforeBytes: number
  readonly heapAfterBytes: number
  readonly residentBeforeBytes: number
  readonly residentAfterBytes: number
  readonly durationMs: number
}

test('each process gives memory back after start, and a worker again after a burst', async () => {
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
  const pids = () => new Set(releases().map((r) => r.pid))

  await waitFor(async () => {
    const res = await send(`http://127.0.0.1:${port}/ready-check`, {
      headers: { connection: 'close' },
    }).catch(() => undefined)
    return res?.status === 200
  }, 20_000)
  // Start-up is a busy spell: the primary and both workers each give back what it left.
  await waitFor(() => pids().size === 3, 15_000)
  assert.ok(pids().has(run.child.pid!), 'the primary is one of them')
  const afterStart = releases().length
  assert.equal(afterStart, 3)

  // A burst on new connections, as curl sends them: far more than one a second for any
  // worker the kernel gives them to.
  for (let i = 0; i < 60; i++) {
    const res = await send(`http://127.0.0.1:${port}/burst/${i}`, { headers: { connection: 'close' } })
    assert.equal(res.status, 200)
  }
  await waitFor(() => releases().length === afterStart + 2, 15_000)
  for (const release of releases().slice(afterStart)) {
    assert.notEqual(release.pid, run.child.pid, 'the primary serves no request')
    assert.ok(release.heapAfterBytes <= release.heapBeforeBytes, JSON.stringify(release))
    assert.ok(release.residentBeforeBytes > 0 && release.residentAfterBytes > 0, JSON.stringify(release))
    assert.ok(release.durationMs >= 0)
  }
  run.child.kill('SIGTERM')
  assert.equal(await run.exited, 0)
  // Once per busy spell: the primary once (its start), each worker twice (start, burst).
  const perProcess = new Map<number, number>()
  for (const r of releases()) perProcess.set(r.pid, (perProcess.get(r.pid) ?? 0) + 1)
  assert.deepEqual(
    [...perProcess.entries()]
      .map(([pid, n]) => (pid === run.child.pid ? ['primary', n] : ['worker', n]))
      .sort(),
    [
      ['primary', 1],
      ['worker', 2],
      ['worker', 2],
    ],
    run.out(),
  )
})
