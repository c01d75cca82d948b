/**
 * Upstream pools with real origins on loopback: weighted round robin, consistent hashing,
 * a route's pool, an unknown pool refused, a dying server ejected while GETs are retried,
 * a PUT with its body retried, the retry budget, no available server, and the pool's queue limit.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { runEdgecache } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

/** An origin that names itself in the body and forbids storing, so every request reaches a pool. */
async function namedOrigin(name: string): Promise<Origin> {
  return startOrigin((_req, res) => answer(res, 200, name))
}

function answer(res: ServerResponse, status: number, body: string, cacheControl = 'no-store'): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': cacheControl })
  res.end(body)
}

function routeFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'edgecache-pools-')), 'routes.yaml')
  writeFileSync(file, text)
  return file
}

describe('upstream pools', () => {
  const origins: Origin[] = []
  const proxies: TestProxy[] = []
  const origin = async (name: string) => {
    const o = await namedOrigin(name)
    origins.push(o)
    return o
  }
  const proxy = async (config: Record<string, unknown>, upstream?: string) => {
    const p = await startProxy({ config, ...(upstream === undefined ? {} : { upstream }) })
    proxies.push(p)
    return p
  }
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()))
    await Promise.all(origins.map((o) => o.close()))
    await closeClient()
  })

  test('weighted round robin splits requests within 10% of the weights', async () => {
    const a = await origin('a')
    const b = await origin('b')
    const p = await proxy({
      upstreams: {
        app: {
          servers: [{ url: a.url, weight: 2 }, { url: b.url }],
          health: { interval: '0s' },
        },
      },
      routes: routeFile('default: { upstream: app }\n'),
    })
    const counts = { a: 0, b: 0 }
    for (let i = 0; i < 300; i++) {
      const reply = await send(`${p.url}/rr/${i}`)
      assert.equal(reply.status, 200)
      counts[reply.text as 'a' | 'b']++
    }
    assert.ok(Math.abs(counts.a - 200) <= 20, `a served ${counts.a} of 300, expected 200 ± 20`)
    assert.ok(Math.abs(counts.b - 100) <= 10, `b served ${counts.b} of 300, expected 100 ± 10`)
  })

  test('consistent hashing on the cache key sends one key to one server', async () => {
    const three = [await origin('x'), await origin('y'), await origin('z')]
    const p = await proxy({
      upstreams: {
        tier: {
          servers: three.map((o) => ({ url: o.url })),
          balance: 'hash',
          hash: 'key',
          health: { interval: '0s' },
        },
      },
      routes: routeFile('default: { upstream: tier }\n'),
    })
    const servedBy = new Map<string, Set<string>>()
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 30; k++) {
        const reply = await send(`${p.url}/item/${k}`)
        const seen = servedBy.get(`/item/${k}`) ?? new Set()
        seen.add(reply.text)
        servedBy.set(`/item/${k}`, seen)
      }
    }
    for (const [path, servers] of servedBy) assert.equal(servers.size, 1, `${path} went to ${[...servers]}`)
    // Thirty keys over three servers: each server gets some.
    const used = new Set([...servedBy.values()].flatMap((s) => [...s]))
    assert.equal(used.size, 3)
  })

  test('a route’s pool is used, and the default pool serves the rest', async () => {
    const app = await origin('app')
    const fallback = await origin('fallback')
    const p = await proxy(
      {
        upstreams: { app: { servers: [{ url: app.url }], health: { interval: '0s' } } },
        routes: routeFile('routes:\n  - name: api\n    match: { pathPrefix: /api/ }\n    upstream: app\n'),
      },
      fallback.url,
    )
    assert.equal((await send(`${p.url}/api/users`)).text, 'app')
    assert.equal((await send(`${p.url}/home`)).text, 'fallback')
    assert.equal(app.count('/home'), 0)
    assert.equal(fallback.count('/api/users'), 0)
  })

  test('an unknown pool name fails check-config and start, naming the route and the pool', async () => {
    const routes = routeFile('routes:\n  - name: api\n    match: { pathPrefix: /api/ }\n    upstream: ap\n')
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-pools-'))
    const config = join(dir, 'edgecache.json')
    writeFileSync(
      config,
      JSON.stringify({ routes, upstreams: { app: { servers: [{ url: 'http://127.0.0.1:1' }] } } }),
    )
    const checked = runEdgecache(['check-config', config])
    assert.equal(await checked.exited, 1)
    assert.match(checked.err(), /routes\[0\] \(api\)\.upstream: unknown pool "ap"/)

    await assert.rejects(
      startProxy({
        config: { routes, upstreams: { app: { servers: [{ url: 'http://127.0.0.1:1' }] } } },
      }),
      (err: Error) => /routes\[0\] \(api\)\.upstream: unknown pool "ap" \(pools: app\)/.test(err.message),
    )
  })

  test('a server that dies is ejected within the check interval, and GETs meanwhile see no error', async () => {
    const steady = await origin('steady')
    const dying = await origin('dying')
    const p = await proxy({
      upstreams: {
        app: {
          servers: [{ url: steady.url }, { url: dying.url }],
          // Long enough that the requests right after the death reach it and are retried.
          health: { interval: '1s', timeout: '500ms', unhealthyAfter: 1, healthyAfter: 1 },
        },
      },
      routes: routeFile('default: { upstream: app }\n'),
    })
    for (let i = 0; i < 4; i++) assert.equal((await send(`${p.url}/before/${i}`)).status, 200)
    assert.ok(dying.count() > 0)
    await dying.close()
    const diedAt = performance.now()
    // Requests right after the death: those sent to it are retried on the other server.
    for (let i = 0; i < 20; i++) {
      const reply = await send(`${p.url}/after/${i}`)
      assert.equal(reply.status, 200, `request ${i} after the death`)
      assert.equal(reply.text, 'steady')
    }
    await waitFor(async () => {
      const ready = JSON.parse((await send(`${p.adminUrl}/ready`)).text)
      const server = ready.upstreams[0].servers.find((s: { url: string }) => s.url === dying.url)
      return server.available === false
    })
    // The bound: one check interval and a check's timeout, with slack for a loaded machine.
    assert.ok(performance.now() - diedAt < 6_000)
    const ready = JSON.parse((await send(`${p.adminUrl}/ready`)).text)
    assert.equal(ready.upstreams[0].healthy, true)
    assert.equal(ready.upstreams[0].servers.length, 2)
    const metrics = (await send(`${p.adminUrl}/metrics`)).text
    const host = (o: Origin) => new URL(o.url).host
    assert.match(
      metrics,
      new RegExp(`edgecache_upstream_server_up\\{upstream="app",server="${host(steady)}"\\} 1`),
    )
    assert.match(
      metrics,
      new RegExp(`edgecache_upstream_server_up\\{upstream="app",server="${host(dying)}"\\} 0`),
    )
    assert.match(metrics, /edgecache_upstream_retries_total\{upstream="app",result="retried"\} [1-9]/)
  })

  test('the retry budget caps retries under a failing pool', async () => {
    const failing = [await origin('f1'), await origin('f2')]
    for (const o of failing) o.handle((_req, res) => answer(res, 503, 'down'))
    const p = await proxy({
      upstreams: {
        app: {
          servers: failing.map((o) => ({ url: o.url })),
          health: { interval: '0s' },
          retry: { attempts: 2, budget: 0.2, minPerSecond: 0 },
        },
      },
      routes: routeFile('default: { upstream: app }\n'),
    })
    const sent = 100
    for (let i = 0; i < sent; i++) assert.equal((await send(`${p.url}/f/${i}`)).status, 503)
    const reached = failing[0]!.count() + failing[1]!.count()
    // Every request tried once, and at most 20% more.
    assert.ok(reached >= sent, `the servers saw ${reached} requests`)
    assert.ok(reached <= sent * 1.2 + 1, `the servers saw ${reached} requests for ${sent} sent`)
    assert.ok(reached > sent, 'some requests were retried')
  })

  test('a PUT whose body was read whole is retried on another server with its body', async () => {
    const failing = await origin('failing')
    failing.handle((_req, res) => answer(res, 503, 'down'))
    const steady = await origin('steady')
    const p = await proxy({
      upstreams: {
        app: { servers: [{ url: failing.url }, { url: steady.url }], health: { interval: '0s' } },
      },
      routes: routeFile('default: { upstream: app }\n'),
    })
    // Round robin: one of two PUTs goes to the failing server first.
    for (let i = 0; i < 2; i++) {
      const reply = await send(`${p.url}/doc/${i}`, { method: 'PUT', body: `v=${i}` })
      assert.equal(reply.status, 200)
      assert.equal(reply.text, 'steady')
    }
    assert.equal(failing.count(), 1)
    assert.deepEqual(steady.requests.map((r) => r.body.toString()).sort(), ['v=0', 'v=1'])
  })

  test('with no server available: stale where allowed, else 503 at once', async () => {
    const only = await origin('only')
    only.handle((req, res) =>
      req.url === '/kept'
        ? answer(res, 200, 'kept', 'max-age=0, stale-if-error=60')
        : answer(res, 200, 'only'),
    )
    const p = await proxy({
      upstreams: {
        app: {
          servers: [{ url: only.url }],
          health: { interval: '100ms', timeout: '500ms', unhealthyAfter: 1, healthyAfter: 1 },
        },
      },
      routes: routeFile('default: { upstream: app }\n'),
    })
    assert.equal((await send(`${p.url}/kept`)).text, 'kept')
    await only.close()
    await waitFor(
      async () => JSON.parse((await send(`${p.adminUrl}/ready`)).text).upstreams[0].healthy === false,
    )
    const stale = await send(`${p.url}/kept`)
    assert.equal(stale.status, 200)
    assert.equal(stale.text, 'kept')
    assert.match(stale.header('cache-status') ?? '', /stale-if-error/)
    const started = performance.now()
    const refused = await send(`${p.url}/other`)
    assert.equal(refused.status, 503)
    assert.match(refused.text, /no backend available/)
    // The cache can still serve: /ready stays 200 and says degraded (readiness.requireUpstream: 503).
    const ready = await send(`${p.adminUrl}/ready`)
    assert.equal(ready.status, 200)
    assert.equal(JSON.parse(ready.text).status, 'degraded')
    assert.ok(performance.now() - started < 1_000)
  })

  test('past its connections and queue, a pool answers 503 at once', async () => {
    const slow = await origin('slow')
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    slow.handle(async (_req, res) => {
      await held
      answer(res, 200, 'slow')
    })
    const p = await proxy({
      upstreams: {
        app: { servers: [{ url: slow.url }], connections: 1, queue: 1, health: { interval: '0s' } },
      },
      routes: routeFile('default: { upstream: app }\n'),
    })
    const first = send(`${p.url}/q/1`)
    const second = send(`${p.url}/q/2`)
    await waitFor(() => slow.count() === 1)
    const third = await send(`${p.url}/q/3`)
    assert.equal(third.status, 503)
    assert.match(third.text, /backend busy/)
    release()
    assert.equal((await first).status, 200)
    assert.equal((await second).status, 200)
  })
})
