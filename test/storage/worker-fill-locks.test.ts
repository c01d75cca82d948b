/**
 * Fill locks between workers through the primary (storage/worker-fill-locks.ts), over an
 * in-process stand-in for node:cluster's IPC channels that delivers each message on a later
 * turn, as the channel does: one claim per key, waiters told how it ended, claims of a
 * worker that exits given up, and the messages of one turn sent as one.
 * (Across real processes: test/integration/shared-local-store.test.ts.)
 */
import assert from 'node:assert/strict'
import type { Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import { describe, test } from 'node:test'
import type { FillLocks } from '../../src/storage/store.ts'
import { createWorkerFillLocks, serveFillLocks } from '../../src/storage/worker-fill-locks.ts'

/** A primary serving fill locks and workers talking to it, counting every channel write. */
function startCluster(count: number) {
  const cluster = new EventEmitter()
  serveFillLocks(cluster as never)
  const writes = { toPrimary: 0, toWorkers: 0 }
  const workers = Array.from({ length: count }, (_, i) => {
    const inbox = new EventEmitter()
    let connected = true
    const worker = {
      id: i + 1,
      isConnected: () => connected,
      send(message: unknown) {
        writes.toWorkers += 1
        setImmediate(() => inbox.emit('message', message))
        return true
      },
    } as unknown as Worker
    const locks: FillLocks = createWorkerFillLocks(
      (message) => {
        writes.toPrimary += 1
        setImmediate(() => cluster.emit('message', worker, message))
      },
      (listener) => inbox.on('message', listener),
    )
    const exit = () => {
      connected = false
      cluster.emit('exit', worker)
    }
    return { locks, exit }
  })
  return { workers, writes }
}

describe('fill locks between workers', () => {
  test('one claim per key across workers; released, the key can be claimed again', async () => {
    const { workers } = startCluster(2)
    const [a, b] = workers as [(typeof workers)[0], (typeof workers)[0]]
    const first = await a.locks.acquireFill('k', 30_000)
    assert.ok(first)
    assert.equal(await b.locks.acquireFill('k', 30_000), undefined)
    assert.ok(await b.locks.acquireFill('other', 30_000))
    await first.release('stored')
    assert.ok(await b.locks.acquireFill('k', 30_000))
  })

  test('a waiter on another worker hears how the claim ended', async () => {
    const { workers } = startCluster(2)
    const [a, b] = workers as [(typeof workers)[0], (typeof workers)[0]]
    const lease = await a.locks.acquireFill('k', 30_000)
    const outcome = b.locks.waitForFill('k', 30_000)
    // The wait reaches the primary before the release: both go on later turns, in order.
    await new Promise((resolve) => setImmediate(resolve))
    await lease?.release('uncacheable')
    assert.deepEqual(await outcome, { outcome: 'uncacheable' })
  })

  test("a waiter on another worker hears the origin's status when the fill failed with one", async () => {
    const { workers } = startCluster(2)
    const [a, b] = workers as [(typeof workers)[0], (typeof workers)[0]]
    const lease = await a.locks.acquireFill('k', 30_000)
    const outcome = b.locks.waitForFill('k', 30_000)
    await new Promise((resolve) => setImmediate(resolve))
    await lease?.release('failed', 503)
    assert.deepEqual(await outcome, { outcome: 'failed', status: 503 })
  })

  test('a worker that exits gives up its claims: its waiters hear abandoned', async () => {
    const { workers } = startCluster(2)
    const [a, b] = workers as [(typeof workers)[0], (typeof workers)[0]]
    assert.ok(await a.locks.acquireFill('k', 30_000))
    const outcome = b.locks.waitForFill('k', 30_000)
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    a.exit()
    assert.deepEqual(await outcome, { outcome: 'abandoned' })
    assert.ok(await b.locks.acquireFill('k', 30_000))
  })

  test('the claims of one turn travel as one write each way, and each gets its own answer', async () => {
    const { workers, writes } = startCluster(2)
    const [a, b] = workers as [(typeof workers)[0], (typeof workers)[0]]
    const keys = ['k1', 'k2', 'k3', 'k1']
    const leases = await Promise.all(keys.map((key) => a.locks.acquireFill(key, 30_000)))
    assert.deepEqual(
      leases.map((lease) => lease !== undefined),
      [true, true, true, false],
    )
    assert.deepEqual(writes, { toPrimary: 1, toWorkers: 1 })
    // Releases of one turn are one write too, and free every key for the other worker.
    await Promise.all(leases.map((lease) => lease?.release('stored')))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(writes.toPrimary, 2)
    const again = await Promise.all(['k1', 'k2', 'k3'].map((key) => b.locks.acquireFill(key, 30_000)))
    assert.ok(again.every((lease) => lease !== undefined))
  })
})
