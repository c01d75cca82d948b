/**
 * The Redis store against a real 3-master Redis Cluster: the whole store contract, where
 * entries, tag indexes and purge records land in different slots and on different nodes,
 * then tag and prefix purges over many keys spread across every master, and fill locks on
 * keys in every slot.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Clock, systemClock } from '../../src/clock.ts'
import { createCircuitBreaker } from '../../src/storage/circuit-breaker.ts'
import { createFillLocks } from '../../src/storage/fill-locks.ts'
import { createRedisStore, type RedisStore } from '../../src/storage/redis-store.ts'
import { describeStoreContract } from '../contract/store-contract.ts'
import { type RedisCluster, redisSkipReason, startRedisCluster } from '../support/redis.ts'

const skip = redisSkipReason()
let cluster: RedisCluster | undefined
let prefixes = 0

async function makeStore(clock?: Clock, keyPrefix = `c${process.pid}-${++prefixes}:`): Promise<RedisStore> {
  assert.ok(cluster, 'the cluster should be running')
  const store = createRedisStore({
    cluster: cluster.seeds,
    keyPrefix,
    commandTimeoutMs: 1_000,
    clock,
  })
  await store.ready(10_000)
  return store
}

describe('redis cluster store', { skip }, () => {
  before(async () => {
    cluster = await startRedisCluster()
  })
  after(async () => {
    await cluster?.stop()
  })

  describeStoreContract('redis cluster store', (clock) => makeStore(clock))

  test('tag and prefix purges reach keys in every slot', async () => {
    const store = await makeStore()
    try {
      const expiresAt = Date.now() + 60_000
      const keys = Array.from({ length: 200 }, (_, i) => `GET /items/${i}`)
      for (const [i, key] of keys.entries()) {
        const tags = i % 2 === 0 ? ['even'] : ['odd']
        assert.equal(await store.set(key, { meta: { i }, body: Buffer.from(key), expiresAt, tags }), true)
      }
      assert.equal((await store.keysForTag('even')).length, 100)
      assert.equal(await store.purge({ tags: ['even'] }, { soft: false }), 100)
      assert.equal(
        await store.purge({ prefixes: ['GET /items/1'] }, { soft: true }),
        56,
        '1, 1x, 1xx odd ones',
      )
      assert.equal(await store.purge({ all: true }, { soft: false, dryRun: true }), 100)
      assert.equal((await store.get('GET /items/11'))?.invalidatedAt !== undefined, true)
      assert.equal(await store.purge({ all: true }, { soft: false }), 100)
      for (const key of keys) assert.equal(await store.get(key), undefined, key)
    } finally {
      await store.close()
    }
  })

  test('fill locks: one claim per key in every slot, released only by its holder', async () => {
    // Two instances on one cluster: the same key prefix.
    const keyPrefix = `c${process.pid}-${++prefixes}:`
    const a = await makeStore(undefined, keyPrefix)
    const b = await makeStore(undefined, keyPrefix)
    const locksOf = (store: RedisStore) =>
      createFillLocks({
        lock: store.fillLock,
        breaker: createCircuitBreaker({ clock: systemClock }),
        log: { warn() {} },
      })
    try {
      const [la, lb] = [locksOf(a), locksOf(b)]
      const keys = Array.from({ length: 30 }, (_, i) => `GET /fill/${i}`)
      const leases = await Promise.all(keys.map((key) => la.acquireFill(key, 10_000)))
      assert.ok(leases.every((lease) => lease !== undefined))
      for (const key of keys) assert.equal(await lb.acquireFill(key, 10_000), undefined, key)
      for (const lease of leases) await lease?.release('stored')
      for (const key of keys) assert.equal(await a.fillLock.state(key), 'stored', key)
      const again = await lb.acquireFill('GET /fill/0', 10_000)
      assert.ok(again)
      assert.equal(await a.fillLock.release('GET /fill/0', 'not-the-token', 'stored'), false)
      assert.equal(await a.fillLock.state('GET /fill/0'), 'held')
      await again.release('abandoned')
    } finally {
      await a.close()
      await b.close()
    }
  })
})
