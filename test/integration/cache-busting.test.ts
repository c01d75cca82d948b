/**
 * Clients cannot bust the cache: by default a browser reload (Cache-Control: no-cache,
 * max-age=0, Pragma: no-cache) is answered from the store, as nginx, Varnish and CDNs do;
 * only-if-cached still counts; clients in cache.refreshFrom, and routes that say so, may
 * still force a refresh.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

describe('request directives and cache busting', () => {
  let origin: Origin
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(req.url)
    })
  })
  after(async () => {
    await origin.close()
    await closeClient()
  })

  async function withProxy(env: Record<string, string>, run: (proxy: TestProxy) => Promise<void>) {
    const proxy = await startProxy({ upstream: origin.url, env })
    try {
      await run(proxy)
    } finally {
      await proxy.close()
    }
  }
  const status = async (proxy: TestProxy, path: string, headers: Record<string, string> = {}) =>
    String((await send(`${proxy.url}${path}`, { headers })).headers['cache-status'])

  const reloads: [string, Record<string, string>][] = [
    ['Cache-Control: no-cache', { 'cache-control': 'no-cache' }],
    ['Cache-Control: max-age=0', { 'cache-control': 'max-age=0' }],
    ['Pragma: no-cache', { pragma: 'no-cache' }],
  ]

  for (const [name, headers] of reloads) {
    test(`by default a request with ${name} is answered from the store`, async () => {
      await withProxy({}, async (proxy) => {
        const path = `/reload-${Object.keys(headers)[0]}-${Object.values(headers)[0]}`
        await status(proxy, path)
        assert.match(await status(proxy, path, headers), /; hit/)
        assert.equal(origin.count(path), 1)
      })
    })
  }

  test('only-if-cached still counts: a miss is 504, never the origin', async () => {
    await withProxy({}, async (proxy) => {
      const reply = await send(`${proxy.url}/never-stored`, {
        headers: { 'cache-control': 'only-if-cached' },
      })
      assert.equal(reply.status, 504)
      assert.equal(origin.count('/never-stored'), 0)
    })
  })

  test('a client in cache.refreshFrom may force a refresh', async () => {
    await withProxy({ EDGECACHE_CACHE__REFRESH_FROM: '127.0.0.1/32,::1' }, async (proxy) => {
      await status(proxy, '/trusted')
      assert.doesNotMatch(await status(proxy, '/trusted', { 'cache-control': 'no-cache' }), /; hit/)
      assert.equal(origin.count('/trusted'), 2)
    })
  })

  test('cache.requestDirectives: honour makes the directives count for everyone', async () => {
    await withProxy({ EDGECACHE_CACHE__REQUEST_DIRECTIVES: 'honour' }, async (proxy) => {
      await status(proxy, '/honoured')
      assert.doesNotMatch(await status(proxy, '/honoured', { pragma: 'no-cache' }), /; hit/)
      assert.equal(origin.count('/honoured'), 2)
    })
  })

  test('a route may honour them where the rest ignores them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-busting-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      'routes:\n  - name: live\n    match: { pathPrefix: /live/ }\n    cache: { requestDirectives: honour }\n',
    )
    await withProxy({ EDGECACHE_ROUTES: routes }, async (proxy) => {
      await status(proxy, '/live/a')
      assert.doesNotMatch(await status(proxy, '/live/a', { 'cache-control': 'no-cache' }), /; hit/)
      await status(proxy, '/still/a')
      assert.match(await status(proxy, '/still/a', { 'cache-control': 'no-cache' }), /; hit/)
    })
  })
})
