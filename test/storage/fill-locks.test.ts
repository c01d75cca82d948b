/**
 * Fill locks against a real redis-server: one claim per key, a release that only ends its
 * own claim, expiry, and the ways a wait ends: the holder's notice over pub/sub, a poll
 * that sees the lock gone, the bound, and a Redis that cannot be reached.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createClient } from 'redis'
import { systemClock } from '../../src/clock.ts'
import { hasCode } from '../../src/errors.ts'
import { createCircuitBreaker } from '../../src/storage/circuit-breaker.ts'
import { createFillLocks, type FillNotices } from '../../src/storage/fill-locks.ts'
import { createRedisBus } from '../../src/storage/redis-bus.ts'
import { createRedisStore, type RedisStore } from '../../src/storage/redis-store.ts'
import type { FillLocks } from '../../src/storage/store.ts'
import { freePort } from '../support/cli.ts'
import { waitFor } from '../support/client.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const skip = redisSkipReason()
const quiet = { warn() {}, info() {} }
let prefixes = 0

describe('fill locks on redis-server', { skip }, () => {
  let redis: RedisServer
  const closers: (() => Promise<unknown>)[] = []

  before(async () => {
    redis = await startRedis()
  })
  after(async () => {
    for (const close of closers.reverse()) await close()
    await redis?.stop()
  })

  async function makeStore(url: string, keyPrefix: string): Promise<RedisStore> {
    const store = createRedisStore({ url, keyPrefix, commandTimeoutMs: 1_000 })
    closers.push(() => store.close())
    return store
  }

  /** One instance's fill locks: its own store connection and, when asked, its own bus. */
  async function instance(
    keyPrefix: string,
    withBus = false,
  ): Promise<{ locks: FillLocks; store: RedisStore; notices: FillNotices | undefined }> {
    const store = await makeStore(redis.url, keyPrefix)
    await store.ready()
    let notices: FillNotices | undefined
    if (withBus) {
      const bus = createRedisBus({ url: redis.url, keyPrefix, log: quiet })
      closers.push(() => bus.close())
      notices = bus
    }
    const breaker = createCircuitBreaker({ clock: systemClock })
    return { locks: createFillLocks({ lock: store.fillLock, breaker, notices, log: quiet }), store, notices }
  }

  const freshPrefix = () => `f${process.pid}-${++prefixes}:`

  test('one claim per key: others get none until it is released', async () => {
    const prefix = freshPrefix()
    const a = await instance(prefix)
    const b = await instance(prefix)
    const lease = await a.locks.acquireFill('GET /x', 10_000)
    assert.ok(lease)
    assert.equal(await b.locks.acquireFill('GET /x', 10_000), undefined)
    assert.ok(await b.locks.acquireFill('GET /y', 10_000), 'another key is claimed on its own')
    await lease.release('stored')
    const next = await b.locks.acquireFill('GET /x', 10_000)
    assert.ok(next, 'claimable again once released')
    await next.release('abandoned')
  })

  test('the lock sits in the entry’s hash slot and has the claim’s TTL', async () => {
    const prefix = freshPrefix()
    const { locks } = await instance(prefix)
    const raw = createClient({ url: redis.url })
    await raw.connect()
    try {
      const lease = await locks.acquireFill('GET /slot}x', 5_000)
      assert.ok(lease)
      // `}` is escaped in the hash tag, as for the entry itself (redis-keys.ts).
      const pttl = await raw.pTTL(`${prefix}{/GET /slot%7Dx}l`)
      assert.ok(pttl > 4_000 && pttl <= 5_000, `pttl ${pttl}`)
      await lease.release('uncacheable')
      // Released: the result stays a moment for waiters that poll, and the key is claimable.
      assert.equal(await raw.get(`${prefix}{/GET /slot%7Dx}l`), '=uncacheable')
      const after = await raw.pTTL(`${prefix}{/GET /slot%7Dx}l`)
      assert.ok(after > 0 && after <= 2_000, `pttl ${after}`)
      const next = await locks.acquireFill('GET /slot}x', 5_000)
      assert.ok(next)
      await next.release('abandoned')
    } finally {
      await raw.close()
    }
  })

  test('a claim expires by itself, and its late release does not end the next holder’s', async () => {
    const prefix = freshPrefix()
    const a = await instance(prefix)
    const b = await instance(prefix)
    const stale = await a.locks.acquireFill('GET /slow', 100)
    assert.ok(stale)
    await waitFor(async () => (await a.store.fillLock.state('GET /slow')) !== 'held')
    const fresh = await b.locks.acquireFill('GET /slow', 10_000)
    assert.ok(fresh, 'claimable once expired')
    await stale.release('stored')
    assert.equal(await a.store.fillLock.state('GET /slow'), 'held', 'the token check kept b’s claim')
    assert.equal(await a.locks.acquireFill('GET /slow', 10_000), undefined)
    await fresh.release('stored')
    assert.equal(await a.store.fillLock.state('GET /slow'), 'stored')
  })

  test('a waiter wakes on the holder’s notice', async () => {
    const prefix = freshPrefix()
    const a = await instance(prefix, true)
    const b = await instance(prefix, true)
    // Both buses subscribed to the fills channel before anything is published.
    const raw = createClient({ url: redis.url })
    await raw.connect()
    try {
      await waitFor(async () => {
        const counts = (await raw.pubSubNumSub(`${prefix}fills`)) as Record<string, number>
        return counts[`${prefix}fills`] === 2
      })
    } finally {
      await raw.close()
    }
    const lease = await a.locks.acquireFill('GET /n', 10_000)
    assert.ok(lease)
    // The lock stays held: only the notice can end this wait with a result.
    const waiting = b.locks.waitForFill('GET /n', 10_000)
    await a.notices?.publishFill({ key: 'GET /n', result: 'uncacheable' })
    assert.equal((await waiting).outcome, 'uncacheable')
    assert.equal(await a.store.fillLock.state('GET /n'), 'held')
    // And a real release wakes it the same way.
    const again = b.locks.waitForFill('GET /n', 10_000)
    await lease.release('stored')
    assert.equal((await again).outcome, 'stored')
    // A failure the origin answered carries its status to the other instance.
    const failing = await a.locks.acquireFill('GET /5xx', 10_000)
    assert.ok(failing)
    const told = b.locks.waitForFill('GET /5xx', 10_000)
    await failing.release('failed', 503)
    assert.deepEqual(await told, { outcome: 'failed', status: 503 })
  })

  test('without a bus a waiter polls the lock and learns the result there', async () => {
    const prefix = freshPrefix()
    const a = await instance(prefix)
    const b = await instance(prefix)
    for (const result of ['stored', 'uncacheable', 'abandoned'] as const) {
      const lease = await a.locks.acquireFill(`GET /p/${result}`, 10_000)
      assert.ok(lease)
      const waiting = b.locks.waitForFill(`GET /p/${result}`, 10_000)
      await lease.release(result)
      assert.equal((await waiting).outcome, result)
    }
  })

  test('a claim that expired unreleased ends the wait as released', async () => {
    const prefix = freshPrefix()
    const a = await instance(prefix)
    const b = await instance(prefix)
    assert.ok(await a.locks.acquireFill('GET /crashed', 100))
    assert.equal((await b.locks.waitForFill('GET /crashed', 10_000)).outcome, 'released')
  })

  test('a wait ends at its bound while the claim is still held', async () => {
    const prefix = freshPrefix()
    const a = await instance(prefix)
    const b = await instance(prefix)
    const lease = await a.locks.acquireFill('GET /held', 10_000)
    assert.ok(lease)
    const started = Date.now()
    assert.equal((await b.locks.waitForFill('GET /held', 150)).outcome, 'timeout')
    assert.ok(Date.now() - started < 5_000)
    assert.equal((await b.locks.waitForFill('GET /held', 0)).outcome, 'timeout', 'a zero bound does not wait')
    await lease.release('abandoned')
  })

  test('with Redis unreachable nobody waits: acquire rejects, a wait ends unavailable', async () => {
    const deadUrl = `redis://127.0.0.1:${await freePort()}`
    const store = await makeStore(deadUrl, freshPrefix())
    const breaker = createCircuitBreaker({ clock: systemClock, failureThreshold: 1, cooldownMs: 60_000 })
    const locks = createFillLocks({ lock: store.fillLock, breaker, log: quiet })
    await assert.rejects(locks.acquireFill('GET /k', 10_000), (err) =>
      hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE'),
    )
    assert.equal(breaker.state(), 'open')
    // The breaker is open now: both fail without asking Redis.
    await assert.rejects(locks.acquireFill('GET /k', 10_000), /circuit open/)
    assert.equal((await locks.waitForFill('GET /k', 10_000)).outcome, 'unavailable')
  })
})
