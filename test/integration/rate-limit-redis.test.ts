/**
 * Rate limits shared across instances through Redis: two edgecache instances on one real
 * redis-server hold one route's limit between them, `rateLimit.shared: host` keeps a
 * bucket per instance, and when Redis stops answering the decisions fall back to each
 * host's own buckets (logged once, counted) until it is back.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parsePrometheusText } from '../observability/prometheus-text.ts'
import { closeClient, type Reply, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const skip = redisSkipReason()

/** One route per case, so no case inherits another's buckets. 10/m: nothing refills during a case. */
const routes = `routes:
  - { name: warm, match: { pathPrefix: /warm }, rateLimit: { rate: 1000/s, burst: 1000 } }
  - { name: slow, match: { pathPrefix: /slow/ }, rateLimit: { rate: 10/m, burst: 10 } }
  - { name: fast, match: { pathPrefix: /fast/ }, rateLimit: { rate: 10/s, burst: 10 } }
  - { name: host, match: { pathPrefix: /host/ }, rateLimit: { rate: 10/m, burst: 10 } }
  - { name: outage, match: { pathPrefix: /outage/ }, rateLimit: { rate: 10/m, burst: 10 } }
  - { name: back, match: { pathPrefix: /back/ }, rateLimit: { rate: 10/m, burst: 10 } }
`

describe('rate limits shared through Redis', { skip }, () => {
  let redis: RedisServer
  let origin: Origin
  let routeFile: string
  let a: TestProxy
  let b: TestProxy
  const env = (extra: Record<string, string> = {}) => ({
    EDGECACHE_STORAGE__DRIVER: 'redis',
    EDGECACHE_STORAGE__REDIS__URL: redis.url,
    // generous for a loaded test machine (a call past it falls back); production default is 50ms
    EDGECACHE_STORAGE__REDIS__COMMAND_TIMEOUT: '2s',
    EDGECACHE_ROUTES: routeFile,
    ...extra,
  })

  /** Every proxy in this process counts every proxy's events: read it around one instance's requests. */
  const fallbacks = async (proxy: TestProxy) =>
    parsePrometheusText((await send(`${proxy.adminUrl}/metrics`)).text).value(
      'edgecache_rate_limit_fallbacks_total',
    )

  /** Resolves once a limited request of `proxy` is decided in Redis, not by the fallback. */
  const connected = (proxy: TestProxy) =>
    waitFor(async () => {
      const before = await fallbacks(proxy)
      assert.equal((await send(`${proxy.url}/warm`)).status, 200)
      return (await fallbacks(proxy)) === before
    }, 15_000)

  before(async () => {
    routeFile = join(mkdtempSync(join(tmpdir(), 'edgecache-limits-')), 'routes.yaml')
    writeFileSync(routeFile, routes)
    redis = await startRedis()
    origin = await startOrigin()
    a = await startProxy({ upstream: origin.url, env: env() })
    b = await startProxy({ upstream: origin.url, env: env() })
    await connected(a)
    await connected(b)
  })

  after(async () => {
    await a?.close()
    await b?.close()
    await origin?.close()
    await redis?.stop()
    await closeClient()
    rmSync(dirname(routeFile), { recursive: true, force: true })
  })

  test('two instances take from one bucket: the tenth request is the last allowed, whichever instance gets it', async () => {
    const before = await fallbacks(a)
    const replies: Reply[] = []
    for (let i = 0; i < 30; i++) replies.push(await send(`${(i % 2 === 0 ? a : b).url}/slow/${i}`))
    assert.deepEqual(
      replies.map((r) => r.status),
      [...Array(10).fill(200), ...Array(20).fill(429)],
    )
    // The tokens left count down across both instances: one bucket, not one each.
    assert.deepEqual(
      replies.slice(0, 10).map((r) => r.header('ratelimit')),
      Array.from({ length: 10 }, (_, i) => `"default";r=${9 - i};t=${Math.ceil(((i + 1) * 60) / 10)}`),
    )
    assert.ok(Number(replies[29]?.header('retry-after')) > 0)
    assert.equal(await fallbacks(a), before)
  })

  test('10 requests a second per address: past the limit 429 across both instances, within 10%', async () => {
    const started = performance.now()
    // New connections on both instances at once.
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => send(`${(i % 2 === 0 ? a : b).url}/fast/${i}`)),
    )
    const seconds = (performance.now() - started) / 1000
    const allowed = replies.filter((r) => r.status === 200).length
    assert.equal(allowed + replies.filter((r) => r.status === 429).length, 40)
    // The burst, plus what refilled meanwhile, within 10%: a bucket per instance would allow 20 at once.
    const bound = Math.floor((10 + 10 * seconds) * 1.1)
    assert.ok(allowed >= 10, `allowed ${allowed}`)
    assert.ok(allowed <= bound, `allowed ${allowed} in ${seconds.toFixed(2)} s, bound ${bound}`)
  })

  test('with rateLimit.shared: host each instance keeps its own buckets, Redis store or not', async () => {
    const c = await startProxy({ upstream: origin.url, env: env({ EDGECACHE_RATE_LIMIT__SHARED: 'host' }) })
    const d = await startProxy({ upstream: origin.url, env: env({ EDGECACHE_RATE_LIMIT__SHARED: 'host' }) })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 30; i++)
        statuses.push((await send(`${(i % 2 === 0 ? c : d).url}/host/${i}`)).status)
      // Ten for each: 20 of 30, the first 20 alternating.
      assert.deepEqual(statuses, [...Array(20).fill(200), ...Array(10).fill(429)])
    } finally {
      await c.close()
      await d.close()
    }
  })

  test('with Redis down the host decides (logged once, counted), and shares again once Redis is back', async () => {
    const fallbacksBefore = await fallbacks(a)
    await redis.stop()
    const statuses: number[] = []
    for (let i = 0; i < 15; i++) statuses.push((await send(`${a.url}/outage/${i}`)).status)
    // a's own bucket for the route: full, as it was never used.
    assert.deepEqual(statuses, [...Array(10).fill(200), ...Array(5).fill(429)])
    assert.equal((await fallbacks(a)) - fallbacksBefore, 15)
    const fellBack = () => a.logs.filter((l) => String(l.msg).startsWith('rate limits fall back'))
    assert.equal(fellBack().length, 1)
    assert.equal(fellBack()[0]?.level, 'warn')

    await redis.restart()
    const sharedAgain = () => a.logs.some((l) => l.msg === 'rate limits shared through redis again')
    // The store reconnects and its circuit lets a call through again: bounded, generous.
    await waitFor(async () => {
      await send(`${a.url}/warm`)
      return sharedAgain()
    }, 20_000)
    await connected(a)
    await connected(b)
    assert.equal(fellBack().length, 1)
    const fallbacksAfter = await fallbacks(a)
    assert.equal((await send(`${a.url}/back/1`)).header('ratelimit'), '"default";r=9;t=6')
    assert.equal((await send(`${b.url}/back/2`)).header('ratelimit'), '"default";r=8;t=12')
    assert.equal(await fallbacks(a), fallbacksAfter, 'both decided in Redis')
  })
})
