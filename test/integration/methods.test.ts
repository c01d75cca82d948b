/**
 * Which methods reach the backend, through a real proxy and origin: PURGE and BAN never
 * do (an origin answering 200 would otherwise let anyone evict a URL, RFC 9111 §4.4),
 * TRACE and CONNECT are refused, other methods known or not are forwarded, and a GET with
 * a body is refused rather than cached under its URL.
 */
import assert from 'node:assert/strict'

import { after, before, describe, test } from 'node:test'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { rawRequest } from '../server/harness.ts'

describe('methods', () => {
  let origin: Origin
  let proxy: TestProxy
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end(`${req.method} ${req.url}`)
    })
    proxy = await startProxy({ upstream: origin.url })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  for (const method of ['PURGE', 'BAN']) {
    test(`RFC 9111 §4.4: ${method} is refused, never forwarded, and evicts nothing`, async () => {
      const path = `/${method.toLowerCase()}-target`
      await send(`${proxy.url}${path}`)
      const reply = await send(`${proxy.url}${path}`, { method })
      if (method === 'PURGE') {
        assert.equal(reply.status, 405)
        assert.match(String(reply.headers.allow), /GET, HEAD/)
      } else {
        // node's HTTP parser knows no BAN method and answers 400 itself; the stage would say 405.
        assert.ok(reply.status === 400 || reply.status === 405, String(reply.status))
      }
      assert.equal(origin.requests.filter((r) => r.method === method).length, 0, 'the origin never saw it')
      assert.match(String((await send(`${proxy.url}${path}`)).headers['cache-status']), /; hit/)
    })
  }

  test('TRACE is refused with 405 and never forwarded', async () => {
    const reply = await send(`${proxy.url}/t`, { method: 'TRACE' })
    assert.equal(reply.status, 405)
    assert.equal(origin.requests.filter((r) => r.method === 'TRACE').length, 0)
  })

  test('a method edgecache does not know is forwarded', async () => {
    const reply = await send(`${proxy.url}/x`, { method: 'REPORT' })
    assert.equal(reply.status, 200)
    assert.equal(reply.text, 'REPORT /x')
  })

  test('a GET with a body is refused with 400 and neither forwarded nor stored', async () => {
    const before = origin.count('/fat')
    const res = await rawRequest(
      Number(new URL(proxy.url).port),
      'GET /fat HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    )
    assert.equal(res.status, 400)
    assert.equal(origin.count('/fat'), before)
  })

  test('server.methods narrows what is forwarded; Allow lists it', async () => {
    const narrow = await startProxy({ upstream: origin.url, env: { EDGECACHE_SERVER__METHODS: 'GET,HEAD' } })
    try {
      const reply = await send(`${narrow.url}/n`, { method: 'POST', body: 'x' })
      assert.equal(reply.status, 405)
      assert.equal(reply.headers.allow, 'GET, HEAD')
      assert.equal((await send(`${narrow.url}/n`)).status, 200)
    } finally {
      await narrow.close()
    }
  })
})
