/**
 * The Redis store and the invalidation bus under Redis Sentinel, against a real master, a
 * replica and three sentinels whose data nodes require an ACL user: the whole store
 * contract, then a failover (the master killed, the replica promoted) that the store and
 * the bus come through without being recreated.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Clock } from '../../src/clock.ts'
import { createRedisBus } from '../../src/storage/redis-bus.ts'
import { createRedisStore, type RedisStore } from '../../src/storage/redis-store.ts'
import type { RedisSentinelTarget } from '../../src/storage/redis-topology.ts'
import type { BusMessage } from '../../src/storage/tiered-store.ts'
import { describeStoreContract } from '../contract/store-contract.ts'
import { type RedisSentinel, startRedisSentinel } from '../support/redis-sentinel.ts'
import { redisSkipReason } from '../support/redis.ts'

const skip = redisSkipReason()
const user = { name: 'edge', password: 'edge-sentinel-pw' }
let deployment: RedisSentinel | undefined
let prefixes = 0

function target(): RedisSentinelTarget {
  assert.ok(deployment, 'the sentinel deployment should be running')
  return {
    name: deployment.name,
    sentinels: deployment.sentinels,
    username: user.name,
    password: user.password,
  }
}

async function makeStore(clock?: Clock): Promise<RedisStore> {
  const store = createRedisStore({
    sentinel: target(),
    keyPrefix: `s${process.pid}-${++prefixes}:`,
    // Generous: CI machines stall.
    commandTimeoutMs: 1_000,
    clock,
  })
  await store.ready(10_000)
  return store
}

/** Polls `check` every 100 ms until it is true; fails after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('redis sentinel store', { skip }, () => {
  before(async () => {
    deployment = await startRedisSentinel({ user })
  })
  after(async () => {
    await deployment?.stop()
  })

  describeStoreContract('redis sentinel store', (clock) => makeStore(clock))

  test('a wrong master name is an error, not a hang', async () => {
    const store = createRedisStore({
      sentinel: { ...target(), name: 'no-such-master' },
      commandTimeoutMs: 200,
    })
    try {
      await assert.rejects(store.ready(2_000))
      await assert.rejects(store.get('k'))
    } finally {
      await store.close()
    }
  })

  // Last: it kills the master.
  test('after a failover the store and the bus work again, without being recreated', async () => {
    assert.ok(deployment)
    const store = await makeStore()
    const keyPrefix = `bus${process.pid}:`
    const log = { warn() {}, info() {} }
    const a = createRedisBus({ sentinel: target(), keyPrefix, log })
    const b = createRedisBus({ sentinel: target(), keyPrefix, log })
    const received: BusMessage[] = []
    let lost = 0
    b.subscribe(
      (message) => received.push(message),
      () => lost++,
    )
    try {
      const expiresAt = Date.now() + 60_000
      assert.equal(await store.set('k', { meta: { v: 1 }, body: Buffer.from('1'), expiresAt }), true)
      const first: BusMessage = { kind: 'purge', selector: { tags: ['before'] }, soft: false }
      await eventually('a message before the failover', async () => {
        await a.publish(first)
        return received.length > 0
      })
      const lostBefore = lost
      const oldMaster = await deployment.masterPort()
      await deployment.failover()
      assert.notEqual(await deployment.masterPort(), oldMaster)

      await eventually('a set on the new master', () =>
        store.set('k', { meta: { v: 2 }, body: Buffer.from('2'), expiresAt }),
      )
      assert.deepEqual((await store.get('k'))?.meta, { v: 2 })

      // The subscriber said it lost messages, and said so again once on the new master.
      await eventually('the bus reporting the loss and the return', async () => lost >= lostBefore + 2)
      const count = received.length
      await eventually('a message after the failover', async () => {
        await a.publish({ kind: 'purge', selector: { tags: ['after'] }, soft: false })
        return received.length > count
      })
    } finally {
      await Promise.allSettled([store.close(), a.close(), b.close()])
    }
  })
})
