/**
 * The invalidation bus says when messages may have been missed, against a real
 * redis-server: once at its first subscription (`started`: purges made before it went by
 * unseen), then when Redis goes away and when it is back.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createRedisBus } from '../../src/storage/redis-bus.ts'
import type { BusLoss } from '../../src/storage/tiered-store.ts'
import { waitFor } from '../support/client.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const quiet = { warn() {}, info() {} }

describe('the invalidation bus on redis-server', { skip: redisSkipReason() }, () => {
  let redis: RedisServer
  before(async () => {
    redis = await startRedis()
  })
  after(async () => {
    await redis?.stop()
  })

  test('reports its start once, not as a reconnection, then a loss and its return', async () => {
    const bus = createRedisBus({ url: redis.url, keyPrefix: 'bus-test:', log: quiet })
    const other = createRedisBus({ url: redis.url, keyPrefix: 'bus-test:', log: quiet })
    const losses: BusLoss[] = []
    let received = 0
    bus.subscribe(
      () => {
        received++
      },
      (why) => losses.push(why),
    )
    try {
      // Published until it arrives: the subscription is up, and then nothing more is reported.
      await waitFor(async () => {
        await other.publish({ kind: 'keys', keys: ['GET /a'] })
        return received > 0
      }, 10_000)
      assert.deepEqual(losses, ['started'])

      await redis.restart()
      await waitFor(() => losses.includes('reconnected'), 20_000)
      assert.deepEqual(losses, ['started', 'disconnected', 'reconnected'])
    } finally {
      await Promise.allSettled([bus.close(), other.close()])
    }
  })
})
