/**
 * What /ready and the metrics say of Redis follows Redis with no traffic at all: the store
 * is pinged through its circuit breaker, so going away and coming back are both noticed
 * without a request to notice them. Against a real redis-server.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { systemClock } from '../../src/clock.ts'
import { loadConfig } from '../../src/config/load.ts'
import { buildStore } from '../../src/store-from-config.ts'
import { waitFor } from '../support/client.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

describe('the Redis store state without traffic', { skip: redisSkipReason() }, () => {
  let redis: RedisServer
  before(async () => {
    redis = await startRedis()
  })
  after(async () => {
    await redis?.stop()
  })

  test('goes down when Redis stops and up when it is back, with no request made', async () => {
    const config = loadConfig({
      env: { EDGECACHE_STORAGE__DRIVER: 'redis', EDGECACHE_STORAGE__REDIS__URL: redis.url },
    })
    const quiet = { warn() {}, info() {} }
    const built = await buildStore(config.storage, {
      clock: systemClock,
      log: quiet,
      onEvict() {},
      onL1Reset() {},
      setAsideUnusable: false,
    })
    try {
      await waitFor(() => built.state().state === 'up', 10_000)
      await redis.stop()
      await waitFor(() => built.state().state === 'down', 20_000)
      await redis.restart()
      await waitFor(() => built.state().state === 'up', 20_000)
      assert.equal(built.state().state, 'up')
    } finally {
      await built.close()
    }
  })
})
