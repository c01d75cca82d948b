/**
 * RFC 9111 §4.4 through the proxy: a non-error response to an unsafe method invalidates
 * the target URI and same-origin Location / Content-Location.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { startTwoWorkers, type TwoWorkers } from '../support/workers.ts'

describe('unsafe-method invalidation', () => {
  let origin: Origin
  let proxy: TestProxy
  let writeStatus = 200

  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.writeHead(200, { 'cache-control': 'max-age=600', vary: req.url === '/v' ? 'accept' : '' })
        res.end(`get ${req.url}`)
        return
      }
      res.writeHead(writeStatus, {
        location: '/loc',
        'content-location': 'http://elsewhere.example/cl',
      })
      res.end('written')
    })
    proxy = await startProxy({ upstream: origin.url })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  async function isHit(path: string, headers: Record<string, string> = {}) {
    const reply = await send(`${proxy.url}${path}`, { headers })
    return /; hit/.test(reply.header('cache-status') ?? '')
  }

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'REPORT']) {
    test(`RFC 9111 §4.4: a successful ${method} invalidates the target URI and same-origin Location`, async () => {
      writeStatus = 200
      const path = `/item-${method}`
      await send(`${proxy.url}${path}`)
      await send(`${proxy.url}/loc`)
      assert.equal(await isHit(path), true)
      assert.equal(await isHit('/loc'), true)
      const write = await send(`${proxy.url}${path}`, { method, body: 'x' })
      assert.match(write.header('cache-status') ?? '', /fwd=method/)
      assert.equal(await isHit(path), false)
      assert.equal(await isHit('/loc'), false)
    })
  }

  test('RFC 9111 §4.4: an error response to an unsafe method invalidates nothing', async () => {
    writeStatus = 500
    await send(`${proxy.url}/kept`)
    await send(`${proxy.url}/kept`, { method: 'POST', body: 'x' })
    assert.equal(await isHit('/kept'), true)
  })

  test('RFC 9111 §4.4: every stored variant of the URI is invalidated', async () => {
    writeStatus = 204
    await send(`${proxy.url}/v`, { headers: { accept: 'a' } })
    await send(`${proxy.url}/v`, { headers: { accept: 'b' } })
    assert.equal(await isHit('/v', { accept: 'a' }), true)
    await send(`${proxy.url}/v`, { method: 'DELETE' })
    assert.equal(await isHit('/v', { accept: 'a' }), false)
    await send(`${proxy.url}/v`, { method: 'DELETE' })
    assert.equal(await isHit('/v', { accept: 'b' }), false)
  })
})

describe('unsafe-method invalidation with the default workers and a route that normalises keys', () => {
  let origin: Origin
  let workers: TwoWorkers

  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.method === 'GET') res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`get ${req.url}`)
      else res.writeHead(204).end()
    })
    const routes = join(mkdtempSync(join(tmpdir(), 'edgecache-unsafe-')), 'routes.yaml')
    // The route matches GET and HEAD only, so the POST itself falls to the default route:
    // the key it invalidates must still be the one the GET stored under.
    writeFileSync(
      routes,
      'routes:\n  - name: product\n    match: { methods: [GET, HEAD], pathPrefix: /p }\n    cache: { query: { sort: true } }\n',
    )
    workers = await startTwoWorkers(origin, { EDGECACHE_ROUTES: routes })
    await workers.warm(origin, '/p?a=1&b=2')
  })

  after(async () => {
    workers?.child.kill('SIGTERM')
    await workers?.exited
    await origin?.close()
    await closeClient()
  })

  test('RFC 9111 §4.4: a POST to /p?b=2&a=1 removes the stored /p?a=1&b=2 on every worker', async () => {
    const status = async (path: string) => (await workers.get(path)).header('cache-status') ?? ''
    assert.match(await status('/p?b=2&a=1'), /; hit/, 'the sorted key is shared by both orders')
    const post = await send(`http://127.0.0.1:${workers.port}/p?b=2&a=1`, {
      method: 'POST',
      body: 'x',
      headers: { connection: 'close' },
    })
    assert.equal(post.status, 204)
    assert.match(await status('/p?a=1&b=2'), /fwd=uri-miss/)
    assert.equal(origin.count('/p?a=1&b=2'), 2)
    // Stored again by that miss: the next request on either worker is a hit.
    assert.match(await status('/p?a=1&b=2'), /; hit/)
  })

  test('§4.4 invalidations are counted apart from operator purges', async () => {
    const metrics = (
      await send(`http://127.0.0.1:${workers.adminPort}/metrics`, { headers: { connection: 'close' } })
    ).text
    assert.match(metrics, /^edgecache_unsafe_invalidations_total [1-9]/m)
    assert.doesNotMatch(metrics, /^edgecache_invalidations_total\{/m)
  })
})
