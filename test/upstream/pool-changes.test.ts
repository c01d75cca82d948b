/** A server's down/up transitions are told once each, not at every check or request. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createPool } from '../../src/upstream/pool.ts'
import type { Upstream } from '../../src/upstream/upstream.ts'
import { createFakeClock } from '../support/clock.ts'

// recordCheck never sends a request: the server's connections are not used here.
const idle = {} as Upstream

test('checks that fail again and again make one "down", passing ones one "up"', () => {
  const changes: [string, boolean, string | undefined][] = []
  const pool = createPool({
    name: 'app',
    servers: [{ url: 'http://10.0.0.1:8080', weight: 1, backup: false, upstream: idle }],
    balance: 'round-robin',
    hashKey: () => '',
    connections: 1,
    queue: 0,
    health: { unhealthyAfter: 2, healthyAfter: 2, failures: 3, ejectForMs: 1_000, maxEjectForMs: 1_000 },
    retry: { attempts: 1, on: [], budget: 0, minPerSecond: 0 },
    clock: createFakeClock(),
    onChange: (server, available, error) => changes.push([server, available, error]),
  })
  for (let i = 0; i < 5; i++) pool.recordCheck('http://10.0.0.1:8080', false, 'ECONNREFUSED')
  for (let i = 0; i < 5; i++) pool.recordCheck('http://10.0.0.1:8080', true)
  assert.deepEqual(changes, [
    ['http://10.0.0.1:8080', false, 'ECONNREFUSED'],
    ['http://10.0.0.1:8080', true, undefined],
  ])
})
