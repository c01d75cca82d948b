/** The backend's up/down transitions are told once each, not at every check or request. */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { test } from 'node:test'
import { systemClock } from '../../src/clock.ts'
import { createHealthMonitor, type UpstreamHealth } from '../../src/upstream/health.ts'
import { waitFor } from '../support/client.ts'

test('requests that fail again and again make one "down", the first answer one "up"', () => {
  const changes: UpstreamHealth[] = []
  const monitor = createHealthMonitor({
    url: 'http://127.0.0.1:9',
    intervalMs: 0,
    timeoutMs: 100,
    clock: systemClock,
    onChange: (health) => changes.push(health),
  })
  for (let i = 0; i < 5; i++) monitor.record(false, 'ECONNREFUSED')
  for (let i = 0; i < 5; i++) monitor.record(true)
  monitor.record(false, 'timeout')
  assert.deepEqual(
    changes.map((c) => [c.healthy, c.lastError]),
    [
      [false, 'ECONNREFUSED'],
      [true, undefined],
      [false, 'timeout'],
    ],
  )
  monitor.close()
})

test('the active check reports a backend that stops listening once', async () => {
  const server = createServer((socket) => socket.destroy())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const changes: boolean[] = []
  let checks = 0
  const monitor = createHealthMonitor({
    url: `http://127.0.0.1:${port}`,
    intervalMs: 20,
    timeoutMs: 1_000,
    clock: { now: () => ++checks && systemClock.now() },
    onChange: (health) => changes.push(health.healthy),
  })
  try {
    await waitFor(() => checks >= 2)
    server.close()
    await waitFor(() => changes.length > 0)
    const after = checks
    // Several more failed checks: still one change.
    await waitFor(() => checks >= after + 5)
    assert.deepEqual(changes, [false])
  } finally {
    monitor.close()
  }
})
