/**
 * RFC 9111 §4.4 through the proxy: a non-error response to an unsafe method invalidates
 * the target URI and same-origin Location / Content-Location.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

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
