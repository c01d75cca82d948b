/**
 * Rate limits per route with real servers: 429 with Retry-After and the RateLimit fields past
 * the burst, refills with time, the allowlist, metrics per route, and one limit across the
 * two workers of a host.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { createLocalRateLimiter } from '../../src/limits/rate-limiter.ts'
import { createTokenBuckets } from '../../src/limits/token-buckets.ts'
import { closeClient, send } from '../support/client.ts'
import { createFakeClock } from '../support/clock.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy } from '../support/proxy.ts'
import { startTwoWorkers, type TwoWorkers } from '../support/workers.ts'

function routeFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'edgecache-limits-')), 'routes.yaml')
  writeFileSync(file, text)
  return file
}

const apiRoutes = (extra = '') =>
  routeFile(
    `routes:\n  - name: api\n    match: { pathPrefix: /api/ }\n    rateLimit: { rate: 10/s, burst: 10, key: client${extra} }\n`,
  )

describe('token buckets', () => {
  test('a bucket holds burst tokens and refills at the rate', () => {
    const buckets = createTokenBuckets(10)
    for (let i = 0; i < 5; i++) assert.equal(buckets.take('k', 10, 5, 0).allowed, true)
    const refused = buckets.take('k', 10, 5, 0)
    assert.deepEqual(refused, { allowed: false, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1 })
    // 100 ms at 10 a second is one token back.
    assert.equal(buckets.take('k', 10, 5, 100).allowed, true)
    assert.equal(buckets.take('k', 10, 5, 100).allowed, false)
  })

  test('past maxKeys the least recently used bucket is forgotten', async () => {
    const buckets = createTokenBuckets(2)
    buckets.take('a', 1, 1, 0)
    buckets.take('b', 1, 1, 0)
    buckets.take('a', 1, 1, 0)
    buckets.take('c', 1, 1, 0)
    assert.equal(buckets.size, 2)
    // b was dropped, so it is full again; a was kept, and stays empty.
    assert.equal(buckets.take('b', 1, 1, 0).allowed, true)
    assert.equal((await createLocalRateLimiter({ now: () => 0 }).take('x', 1, 1)).allowed, true)
  })
})

describe('rate limits through the proxy', () => {
  const origins: Origin[] = []
  after(async () => {
    await Promise.all(origins.map((o) => o.close()))
    await closeClient()
  })

  test('past the burst a client gets 429 with Retry-After and the RateLimit fields; time refills it', async () => {
    const origin = await startOrigin()
    origins.push(origin)
    const clock = createFakeClock()
    const proxy = await startProxy({ upstream: origin.url, clock, env: { EDGECACHE_ROUTES: apiRoutes() } })
    try {
      const statuses: number[] = []
      let last = await send(`${proxy.url}/api/a`)
      statuses.push(last.status)
      for (let i = 1; i < 12; i++) {
        last = await send(`${proxy.url}/api/${i}`)
        statuses.push(last.status)
      }
      assert.deepEqual(statuses, [...Array(10).fill(200), 429, 429])
      assert.equal(last.header('retry-after'), '1')
      assert.equal(last.header('ratelimit-policy'), '"default";q=10;w=1')
      assert.equal(last.header('ratelimit'), '"default";r=0;t=1')
      assert.match(last.text, /too many requests/)
      // Another route is not limited.
      assert.equal((await send(`${proxy.url}/home`)).status, 200)
      clock.advance(1_000)
      const again = await send(`${proxy.url}/api/later`)
      assert.equal(again.status, 200)
      assert.equal(again.header('ratelimit'), '"default";r=9;t=1')
      const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
      assert.match(metrics, /edgecache_rate_limit_requests_total\{route="api",result="limited"\} 2/)
      assert.match(metrics, /edgecache_rate_limit_requests_total\{route="api",result="allowed"\} 11/)
    } finally {
      await proxy.close()
    }
  })

  test('an address on the allowlist is never limited', async () => {
    const origin = await startOrigin()
    origins.push(origin)
    const proxy = await startProxy({
      upstream: origin.url,
      clock: createFakeClock(),
      env: { EDGECACHE_ROUTES: apiRoutes(', allow: [127.0.0.0/8]') },
    })
    try {
      for (let i = 0; i < 15; i++) assert.equal((await send(`${proxy.url}/api/${i}`)).status, 200)
    } finally {
      await proxy.close()
    }
  })
})

describe('rate limits across two workers', () => {
  let origin: Origin
  let workers: TwoWorkers | undefined
  after(async () => {
    workers?.child.kill('SIGTERM')
    await workers?.exited
    await origin?.close()
    await closeClient()
  })

  test('10 requests a second per address: past the limit 429, whichever worker answers', async () => {
    origin = await startOrigin()
    workers = await startTwoWorkers(origin, { EDGECACHE_ROUTES: apiRoutes() })
    await workers.warm(origin, '/warm-path')
    const started = performance.now()
    // New connections, so the primary hands them to both workers in turn.
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => workers!.get(`/api/${i}`)))
    const seconds = (performance.now() - started) / 1000
    const allowed = replies.filter((r) => r.status === 200).length
    const limited = replies.filter((r) => r.status === 429).length
    assert.equal(allowed + limited, 40)
    // The burst, plus what refilled meanwhile, within 10%: a bucket per worker would allow 20 at once.
    const bound = Math.floor((10 + 10 * seconds) * 1.1)
    assert.ok(allowed >= 10, `allowed ${allowed}`)
    assert.ok(allowed <= bound, `allowed ${allowed} in ${seconds.toFixed(2)} s, bound ${bound}`)
    assert.ok(replies.some((r) => r.status === 429 && r.header('retry-after') !== undefined))
  })
})
