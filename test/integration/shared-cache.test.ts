/**
 * Two edgecache instances on one Redis (tiered storage): one cache between them, purges
 * that reach both memory tiers, and a Redis outage that does not take the site down.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const TOKEN = 'shared-cache-token-0000'
const skip = redisSkipReason()

describe('two instances sharing Redis (tiered)', { skip }, () => {
  let redis: RedisServer
  let origin: Origin
  let a: TestProxy
  let b: TestProxy

  before(async () => {
    redis = await startRedis()
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'shared' })
      res.end(`body of ${req.url}`)
    })
    const env = {
      EDGECACHE_STORAGE__DRIVER: 'tiered',
      EDGECACHE_STORAGE__REDIS__URL: redis.url,
      // generous for a loaded test machine; production default is 50ms
      EDGECACHE_STORAGE__REDIS__COMMAND_TIMEOUT: '500ms',
      EDGECACHE_ADMIN_TOKEN: TOKEN,
    }
    a = await startProxy({ upstream: origin.url, env })
    b = await startProxy({ upstream: origin.url, env })
  })

  after(async () => {
    await a?.close()
    await b?.close()
    await origin?.close()
    await redis?.stop()
    await closeClient()
  })

  // Both instances must see the same Host: it is part of the cache key.
  const host = { host: 'shop.example' }
  const status = async (proxy: TestProxy, path: string) =>
    (await send(`${proxy.url}${path}`, { headers: host })).header('cache-status') ?? ''

  test('a response cached through one instance is a hit on the other', async () => {
    assert.match(await status(a, '/one'), /stored/)
    // stored once the whole body is in: a hit on a says Redis has it too
    await waitFor(async () => /; hit/.test(await status(a, '/one')))
    assert.match(await status(b, '/one'), /; hit/)
    assert.equal(origin.count('/one'), 1)
  })

  test('a tag purge on one instance removes the entry from both, memory tiers included', async () => {
    await status(a, '/two')
    await waitFor(async () => /; hit/.test(await status(a, '/two')))
    await waitFor(async () => /; hit/.test(await status(b, '/two')))
    assert.match(await status(b, '/two'), /; hit/) // now in b's memory tier
    const purge = await send(`${a.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['shared'] }),
    })
    assert.equal(purge.status, 200)
    // b drops its copy when the purge arrives over pub/sub (within milliseconds; bounded here)
    await waitFor(async () => /miss/.test(await status(b, '/two')))
  })

  test('with Redis down requests still succeed and /ready says degraded; it recovers by itself', async () => {
    await status(a, '/three')
    await redis.stop()
    for (let i = 0; i < 10; i++) {
      const reply = await send(`${a.url}/down-${i}`, { headers: host })
      assert.equal(reply.status, 200)
    }
    const ready = JSON.parse((await send(`${a.adminUrl}/ready`)).text)
    assert.notEqual(ready.stores[0].state, 'up')
    assert.match((await send(`${a.adminUrl}/metrics`)).text, /^edgecache_storage_up\{store="tiered"\} 0$/m)
    const purge = await send(`${a.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['shared'] }),
    })
    assert.equal(purge.status, 503, 'a purge that cannot reach Redis is not reported done')

    await redis.restart()
    let n = 0
    await waitFor(async () => {
      // new paths: an L1 hit never asks Redis, so only a miss lets the breaker probe it
      await send(`${a.url}/after-${n++}`, { headers: host })
      return JSON.parse((await send(`${a.adminUrl}/ready`)).text).stores[0].state === 'up'
    }, 15_000)
    assert.match(await status(a, '/recovered'), /stored/)
    await waitFor(async () => /; hit/.test(await status(b, '/recovered')))
  })
})
