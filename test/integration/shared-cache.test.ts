/**
 * Two edgecache instances on one Redis (tiered storage): one cache between them, purges
 * that reach both memory tiers, concurrent misses collapsed into one origin request across
 * the instances (within a bound, and never for an uncacheable answer), and a Redis outage
 * that does not take the site down nor make anyone wait.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { parsePrometheusText } from '../observability/prometheus-text.ts'
import { type Origin, type OriginHandler, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const TOKEN = 'shared-cache-token-0000'
const skip = redisSkipReason()

describe('two instances sharing Redis (tiered)', { skip }, () => {
  let redis: RedisServer
  let origin: Origin
  let a: TestProxy
  let b: TestProxy

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'shared' })
    res.end(`body of ${req.url}`)
  }
  let env: Record<string, string>

  before(async () => {
    redis = await startRedis()
    origin = await startOrigin(serve)
    env = {
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

  /**
   * Runs `body` with an origin that holds its answers to `path` until `open` first says so,
   * then answers each with `answer`; other paths are served as usual.
   */
  async function withGatedOrigin(
    path: string,
    open: () => boolean,
    answer: OriginHandler,
    body: () => Promise<void>,
  ): Promise<void> {
    let opened = false
    origin.handle(async (req, res, reqBody) => {
      if (req.url !== path) return serve(req, res)
      // A gate, not a sleep: answer once the test's condition holds (bounded, to fail, not hang).
      await waitFor(() => (opened ||= open()), 15_000)
      await answer(req, res, reqBody)
    })
    try {
      await body()
    } finally {
      origin.handle(serve)
    }
  }

  /** edgecache_fill_locks_total by result. Every proxy in this process counts every proxy's events. */
  async function fillLocks(proxy: TestProxy): Promise<Record<string, number>> {
    const scrape = parsePrometheusText((await send(`${proxy.adminUrl}/metrics`)).text)
    const results = ['acquired', 'unavailable', 'stored', 'uncacheable', 'abandoned', 'released', 'timeout']
    return Object.fromEntries(
      results.map((result) => [result, scrape.value('edgecache_fill_locks_total', { result })]),
    )
  }

  function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
    return Object.fromEntries(
      Object.entries(after)
        .map(([result, n]) => [result, n - (before[result] ?? 0)] as const)
        .filter(([, n]) => n !== 0),
    )
  }

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

  test('concurrent misses on both make one origin request', async () => {
    const before = await fillLocks(a)
    // Held until b's request waits on a's fetch: both instances have their miss in flight.
    const open = () => origin.count('/together') === 1 && b.app.collapsing().waitingOnOthers === 1
    await withGatedOrigin('/together', open, serve, async () => {
      const first = send(`${a.url}/together`, { headers: host })
      await waitFor(() => origin.count('/together') === 1)
      const second = send(`${b.url}/together`, { headers: host })
      const [ra, rb] = await Promise.all([first, second])
      assert.equal(ra.text, 'body of /together')
      assert.equal(rb.text, 'body of /together')
      assert.match(ra.header('cache-status') ?? '', /fwd=uri-miss; fwd-status=200; ttl=\d+; stored/)
      assert.match(rb.header('cache-status') ?? '', /fwd=uri-miss; fwd-status=200; ttl=\d+; collapsed/)
    })
    assert.equal(origin.count('/together'), 1)
    assert.deepEqual(delta(before, await fillLocks(a)), { acquired: 1, stored: 1 })
  })

  test('an uncacheable answer sends the waiting instance to the origin at once, and it stops waiting', async () => {
    const before = await fillLocks(a)
    const open = () => origin.count('/private') >= 1 && b.app.collapsing().waitingOnOthers === 1
    const noStore: OriginHandler = (req, res) => {
      res.writeHead(200, { 'cache-control': 'no-store' })
      res.end(`private ${origin.count(req.url)}`)
    }
    await withGatedOrigin('/private', open, noStore, async () => {
      const first = send(`${a.url}/private`, { headers: host })
      await waitFor(() => origin.count('/private') === 1)
      const rb = await send(`${b.url}/private`, { headers: host })
      assert.equal((await first).status, 200)
      assert.equal(rb.status, 200)
      assert.match(rb.header('cache-status') ?? '', /detail=no-store/)
      assert.equal(origin.count('/private'), 2, 'b went to the origin itself')
      // Woken by a's word, not by the 2 s bound; and b now remembers the key as hit-for-miss.
      assert.deepEqual(delta(before, await fillLocks(a)), { acquired: 1, uncacheable: 1 })
      assert.equal((await send(`${b.url}/private`, { headers: host })).status, 200)
      assert.equal(origin.count('/private'), 3)
      assert.deepEqual(delta(before, await fillLocks(a)), { acquired: 1, uncacheable: 1 })
    })
  })

  test('past storage.redis.lockWait the waiting instance goes to the origin itself', async () => {
    const short = { ...env, EDGECACHE_STORAGE__REDIS__LOCK_WAIT: '200ms' }
    const c = await startProxy({ upstream: origin.url, env: short })
    const d = await startProxy({ upstream: origin.url, env: short })
    try {
      const before = await fillLocks(c)
      // The first fetch is held until the second reaches the origin: only d giving up on
      // c's fetch lets either finish.
      await withGatedOrigin(
        '/slow',
        () => origin.count('/slow') === 2,
        serve,
        async () => {
          const first = send(`${c.url}/slow`, { headers: host })
          await waitFor(() => origin.count('/slow') === 1)
          const [rc, rd] = await Promise.all([first, send(`${d.url}/slow`, { headers: host })])
          assert.equal(rc.text, 'body of /slow')
          assert.equal(rd.text, 'body of /slow')
          assert.doesNotMatch(rd.header('cache-status') ?? '', /collapsed/)
        },
      )
      assert.equal(origin.count('/slow'), 2)
      assert.deepEqual(delta(before, await fillLocks(c)), { acquired: 1, timeout: 1 })
    } finally {
      await c.close()
      await d.close()
    }
  })

  test('with Redis down requests still succeed and /ready says degraded; it recovers by itself', async () => {
    await status(a, '/three')
    await redis.stop()
    for (let i = 0; i < 10; i++) {
      const reply = await send(`${a.url}/down-${i}`, { headers: host })
      assert.equal(reply.status, 200)
    }
    const readyReply = await send(`${a.adminUrl}/ready`)
    const ready = JSON.parse(readyReply.text)
    assert.notEqual(ready.stores[0].state, 'up')
    // Still 200: the local store and the backend serve on; the top-level status says why not all is well.
    assert.equal(readyReply.status, 200)
    assert.equal(ready.status, 'degraded')
    assert.match((await send(`${a.adminUrl}/metrics`)).text, /^edgecache_storage_up\{store="tiered"\} 0$/m)
    const purge = await send(`${a.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['shared'] }),
    })
    assert.equal(purge.status, 503, 'a purge that cannot reach Redis is not reported done')

    // Concurrent misses on both go to the origin at once: nobody waits on a lock in a Redis that is down.
    const before = await fillLocks(a)
    await withGatedOrigin(
      '/down-together',
      () => origin.count('/down-together') === 2,
      serve,
      async () => {
        const replies = await Promise.all(
          [a, b].map((p) => send(`${p.url}/down-together`, { headers: host })),
        )
        for (const reply of replies) assert.equal(reply.text, 'body of /down-together')
      },
    )
    assert.deepEqual(delta(before, await fillLocks(a)), { unavailable: 2 })

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
