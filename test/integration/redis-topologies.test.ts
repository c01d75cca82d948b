/**
 * edgecache configured the way a user configures it (EDGECACHE_* settings) against Redis
 * over TLS with a private CA, under Sentinel with an ACL user, and with a wrong password:
 * two instances share one cache and purges in the first two; the last keeps serving from
 * the backend, says degraded on /ready and logs why.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { redisSkipReason, startRedis } from '../support/redis.ts'
import { startRedisSentinel } from '../support/redis-sentinel.ts'
import { redisTlsSkipReason, startRedisTls } from '../support/redis-tls.ts'

const TOKEN = 'topologies-token-00000'
// Both instances must see the same Host: it is part of the cache key.
const host = { host: 'shop.example' }

/** Two tiered instances on the Redis that `env` names, and checks that they share a cache. */
function describeSharedCache(
  name: string,
  skip: string | undefined,
  start: () => Promise<{ env: Record<string, string>; stop(): Promise<void> }>,
) {
  describe(name, { skip }, () => {
    let redis: { env: Record<string, string>; stop(): Promise<void> } | undefined
    let origin: Origin
    let a: TestProxy
    let b: TestProxy

    before(async () => {
      redis = await start()
      origin = await startOrigin((req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'shared' })
        res.end(`body of ${req.url}`)
      })
      const env = {
        EDGECACHE_STORAGE__DRIVER: 'tiered',
        // generous for a loaded test machine; production default is 50ms
        EDGECACHE_STORAGE__REDIS__COMMAND_TIMEOUT: '1s',
        EDGECACHE_ADMIN_TOKEN: TOKEN,
        ...redis.env,
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

    const status = async (proxy: TestProxy, path: string) =>
      (await send(`${proxy.url}${path}`, { headers: host })).header('cache-status') ?? ''

    test('a response cached through one instance is a hit on the other, and a purge reaches both', async () => {
      // Redis connects in the background: until it does, responses are not shared.
      await waitFor(
        async () => JSON.parse((await send(`${a.adminUrl}/ready`)).text).stores[0].state === 'up',
        15_000,
      )
      await waitFor(
        async () => JSON.parse((await send(`${b.adminUrl}/ready`)).text).stores[0].state === 'up',
        15_000,
      )
      assert.match(await status(a, '/one'), /stored/)
      // stored once the whole body is in: a hit on a says Redis has it too
      await waitFor(async () => /; hit/.test(await status(a, '/one')), 10_000)
      assert.match(await status(b, '/one'), /; hit/)
      assert.equal(origin.count('/one'), 1)
      const purge = await send(`${a.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tags: ['shared'] }),
      })
      assert.equal(purge.status, 200)
      // b drops its memory-tier copy when the purge arrives over pub/sub
      await waitFor(async () => /miss/.test(await status(b, '/one')), 10_000)
    })
  })
}

describeSharedCache('two instances on Redis over TLS with a private CA', redisTlsSkipReason(), async () => {
  const redis = await startRedisTls()
  return {
    env: { EDGECACHE_STORAGE__REDIS__URL: redis.url, EDGECACHE_STORAGE__REDIS__TLS__CA: redis.files.ca },
    stop: () => redis.stop(),
  }
})

describeSharedCache(
  'two instances on Redis under Sentinel, with an ACL user',
  redisSkipReason(),
  async () => {
    const user = { name: 'edge', password: 'edge-e2e-pw' }
    const sentinel = await startRedisSentinel({ user })
    return {
      env: {
        EDGECACHE_STORAGE__REDIS__SENTINEL__NAME: sentinel.name,
        EDGECACHE_STORAGE__REDIS__SENTINEL__SENTINELS: sentinel.sentinels.join(','),
        EDGECACHE_STORAGE__REDIS__USERNAME: user.name,
        EDGECACHE_STORAGE__REDIS__PASSWORD: user.password,
      },
      stop: () => sentinel.stop(),
    }
  },
)

describe('an instance with a wrong Redis password', { skip: redisSkipReason() }, () => {
  test('serves from the backend, says degraded on /ready and logs refused credentials', async () => {
    const redis = await startRedis({ user: { name: 'edge', password: 'right-password' } })
    const origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(`body of ${req.url}`)
    })
    const proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_STORAGE__DRIVER: 'redis',
        EDGECACHE_STORAGE__REDIS__URL: redis.url,
        EDGECACHE_STORAGE__REDIS__USERNAME: 'edge',
        EDGECACHE_STORAGE__REDIS__PASSWORD: 'wrong-password',
        EDGECACHE_STORAGE__REDIS__COMMAND_TIMEOUT: '500ms',
      },
    })
    try {
      for (let i = 0; i < 8; i++) {
        const reply = await send(`${proxy.url}/page-${i}`, { headers: host })
        assert.equal(reply.status, 200)
        assert.equal(reply.text, `body of /page-${i}`)
      }
      await waitFor(
        () => proxy.logs.some((line) => String(line.msg).startsWith('redis refused the credentials')),
        10_000,
      )
      const ready = JSON.parse((await send(`${proxy.adminUrl}/ready`)).text)
      assert.notEqual(ready.stores[0].state, 'up')
      assert.doesNotMatch(JSON.stringify(proxy.logs), /wrong-password/)
    } finally {
      await proxy.close()
      await origin.close()
      await redis.stop()
      await closeClient()
    }
  })
})
