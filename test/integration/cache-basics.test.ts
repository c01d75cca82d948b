/**
 * The cache through a real origin and a real proxy: what is stored, what is not, and how
 * hits are answered (Age, Cache-Status, HEAD, Range, conditional requests, Vary).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

describe('cache basics through the proxy', () => {
  let origin: Origin
  let proxy: TestProxy
  const clock = createFakeClock()
  let counter = 0

  before(async () => {
    origin = await startOrigin((req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin')
      counter++
      const cc = url.searchParams.get('cc')
      const headers: Record<string, string> = { 'content-type': 'text/plain' }
      if (cc !== null) headers['cache-control'] = cc
      if (url.pathname === '/vary') {
        headers.vary = 'Accept-Language'
        res.writeHead(200, headers)
        res.end(`lang=${req.headers['accept-language'] ?? 'none'}`)
        return
      }
      if (url.pathname === '/etag') {
        headers.etag = '"v1"'
        headers['last-modified'] = new Date(clock.now() - 3_600_000).toUTCString()
      }
      if (url.pathname === '/cookie') headers['set-cookie'] = 'session=abc'
      if (url.pathname === '/behind-a-cache') headers['cache-status'] = 'origin-cache; fwd=uri-miss; stored'
      if (url.pathname === '/bytes') {
        res.writeHead(200, headers)
        res.end('0123456789')
        return
      }
      if (url.pathname === '/missing') {
        res.writeHead(404, headers)
        res.end('not here')
        return
      }
      res.writeHead(200, headers)
      res.end(`body ${counter}`)
    })
    proxy = await startProxy({ upstream: origin.url, clock })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('a cacheable response is a miss, then a hit with Age and the same body', async () => {
    const first = await send(`${proxy.url}/a?cc=max-age=60`)
    assert.equal(first.status, 200)
    assert.equal(first.header('cache-status'), 'edgecache; fwd=uri-miss; fwd-status=200; ttl=60; stored')
    clock.advance(5_000)
    const second = await send(`${proxy.url}/a?cc=max-age=60`)
    assert.equal(second.text, first.text)
    assert.equal(second.header('cache-status'), 'edgecache; hit; ttl=55')
    assert.equal(second.header('age'), '5')
    assert.equal(origin.count('/a?cc=max-age=60'), 1)
  })

  test('RFC 9211 §2: the Cache-Status of a cache behind edgecache is kept, and edgecache adds its entry after it', async () => {
    const first = await send(`${proxy.url}/behind-a-cache?cc=max-age=60`)
    assert.equal(
      first.header('cache-status'),
      'origin-cache; fwd=uri-miss; stored, edgecache; fwd=uri-miss; fwd-status=200; ttl=60; stored',
    )
    const second = await send(`${proxy.url}/behind-a-cache?cc=max-age=60`)
    assert.equal(second.header('cache-status'), 'origin-cache; fwd=uri-miss; stored, edgecache; hit; ttl=60')
    const pass = await send(`${proxy.url}/behind-a-cache?cc=no-store`)
    assert.match(
      String(pass.header('cache-status')),
      /^origin-cache; fwd=uri-miss; stored, edgecache; fwd=uri-miss; /,
    )
  })

  test('RFC 9111 §5.2.2.5: no-store is never stored', async () => {
    await send(`${proxy.url}/ns?cc=no-store`)
    const second = await send(`${proxy.url}/ns?cc=no-store`)
    assert.match(second.header('cache-status') ?? '', /fwd=uri-miss; fwd-status=200; detail=no-store/)
    assert.equal(origin.count('/ns?cc=no-store'), 2)
  })

  test('RFC 9111 §5.2.2.7: private is not stored by a shared cache', async () => {
    await send(`${proxy.url}/p?cc=private,max-age=60`)
    const second = await send(`${proxy.url}/p?cc=private,max-age=60`)
    assert.match(second.header('cache-status') ?? '', /detail=private/)
    assert.equal(origin.count('/p?cc=private,max-age=60'), 2)
  })

  test('RFC 9111 §3.5: a response to an Authorization request is stored only when allowed', async () => {
    const auth = { authorization: 'Bearer x' }
    await send(`${proxy.url}/auth?cc=max-age=60`, { headers: auth })
    const again = await send(`${proxy.url}/auth?cc=max-age=60`, { headers: auth })
    assert.match(again.header('cache-status') ?? '', /detail=authorization/)
    assert.equal(origin.count('/auth?cc=max-age=60'), 2)

    await send(`${proxy.url}/auth?cc=public,max-age=60`, { headers: auth })
    const pub = await send(`${proxy.url}/auth?cc=public,max-age=60`, { headers: auth })
    assert.match(pub.header('cache-status') ?? '', /; hit/)
    assert.equal(origin.count('/auth?cc=public,max-age=60'), 1)
  })

  test('responses with Set-Cookie are not stored by default', async () => {
    await send(`${proxy.url}/cookie?cc=max-age=60`)
    const second = await send(`${proxy.url}/cookie?cc=max-age=60`)
    assert.match(second.header('cache-status') ?? '', /detail=set-cookie/)
    assert.equal(second.header('set-cookie'), 'session=abc')
    assert.equal(origin.count('/cookie?cc=max-age=60'), 2)
  })

  test('RFC 9111 §4.1: Vary keeps one stored variant per selecting header value', async () => {
    const path = '/vary?cc=max-age=60'
    const en = await send(`${proxy.url}${path}`, { headers: { 'accept-language': 'en' } })
    const fr = await send(`${proxy.url}${path}`, { headers: { 'accept-language': 'fr' } })
    assert.match(fr.header('cache-status') ?? '', /fwd=vary-miss/)
    const enAgain = await send(`${proxy.url}${path}`, { headers: { 'accept-language': 'en' } })
    const frAgain = await send(`${proxy.url}${path}`, { headers: { 'accept-language': 'fr' } })
    assert.equal(en.text, 'lang=en')
    assert.equal(enAgain.text, 'lang=en')
    assert.equal(frAgain.text, 'lang=fr')
    assert.match(enAgain.header('cache-status') ?? '', /; hit/)
    assert.match(frAgain.header('cache-status') ?? '', /; hit/)
    assert.equal(origin.count(path), 2)
  })

  test('RFC 9111 §4.1: Vary: * is never served from cache', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: '*' })
      res.end('star')
    })
    try {
      await send(`${proxy.url}/star`)
      const second = await send(`${proxy.url}/star`)
      assert.match(second.header('cache-status') ?? '', /detail=vary-star/)
      assert.equal(origin.count('/star'), 2)
    } finally {
      origin.handle((_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end('default')
      })
    }
  })
})

describe('answers built from a stored response', () => {
  let origin: Origin
  let proxy: TestProxy
  const clock = createFakeClock()

  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'cache-control': 'max-age=300',
        etag: '"v1"',
        'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT',
      })
      res.end(req.method === 'HEAD' ? undefined : '0123456789')
    })
    proxy = await startProxy({ upstream: origin.url, clock })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('HEAD is answered from a stored GET, and a HEAD miss stores for GET', async () => {
    const head = await send(`${proxy.url}/h1`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.body.length, 0)
    assert.equal(origin.requests.at(-1)?.method, 'GET')
    const get = await send(`${proxy.url}/h1`)
    assert.equal(get.text, '0123456789')
    assert.match(get.header('cache-status') ?? '', /; hit/)
    const headHit = await send(`${proxy.url}/h1`, { method: 'HEAD' })
    assert.match(headHit.header('cache-status') ?? '', /; hit/)
    assert.equal(headHit.header('content-length'), '10')
    assert.equal(origin.count('/h1'), 1)
  })

  test('RFC 9110 §14: one range is answered 206 from the stored full response', async () => {
    await send(`${proxy.url}/r1`)
    const part = await send(`${proxy.url}/r1`, { headers: { range: 'bytes=2-5' } })
    assert.equal(part.status, 206)
    assert.equal(part.text, '2345')
    assert.equal(part.header('content-range'), 'bytes 2-5/10')
    const suffix = await send(`${proxy.url}/r1`, { headers: { range: 'bytes=-3' } })
    assert.equal(suffix.text, '789')
    const unsatisfiable = await send(`${proxy.url}/r1`, { headers: { range: 'bytes=50-' } })
    assert.equal(unsatisfiable.status, 416)
    assert.equal(unsatisfiable.header('content-range'), 'bytes */10')
    const several = await send(`${proxy.url}/r1`, { headers: { range: 'bytes=0-1,4-5' } })
    assert.equal(several.status, 200)
    assert.equal(several.text, '0123456789')
    assert.equal(origin.count('/r1'), 1)
  })

  test('a Range miss fetches the whole response, so the next range is a hit', async () => {
    const first = await send(`${proxy.url}/r2`, { headers: { range: 'bytes=0-3' } })
    assert.equal(origin.requests.at(-1)?.headers.range, undefined)
    assert.equal(first.status, 200)
    const second = await send(`${proxy.url}/r2`, { headers: { range: 'bytes=0-3' } })
    assert.equal(second.status, 206)
    assert.equal(second.text, '0123')
  })

  test('RFC 9111 §4.3.2: a client If-None-Match is answered 304 from cache', async () => {
    await send(`${proxy.url}/c1`)
    const notModified = await send(`${proxy.url}/c1`, { headers: { 'if-none-match': '"v0", W/"v1"' } })
    assert.equal(notModified.status, 304)
    assert.equal(notModified.header('etag'), '"v1"')
    assert.equal(notModified.body.length, 0)
    const changed = await send(`${proxy.url}/c1`, { headers: { 'if-none-match': '"v2"' } })
    assert.equal(changed.status, 200)
    const ims = await send(`${proxy.url}/c1`, {
      headers: { 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' },
    })
    assert.equal(ims.status, 304)
    assert.equal(origin.count('/c1'), 1)
  })

  test('a client conditional on a miss fills the cache with the full response and gets its 304', async () => {
    const reply = await send(`${proxy.url}/c2`, { headers: { 'if-none-match': '"v1"' } })
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], undefined)
    assert.equal(reply.status, 304)
    const hit = await send(`${proxy.url}/c2`, { headers: { 'if-none-match': '"v1"' } })
    assert.equal(hit.status, 304)
  })

  test('GET and HEAD share a key built from scheme, host and target', async () => {
    await send(`${proxy.url}/k?a=1`)
    const otherQuery = await send(`${proxy.url}/k?a=2`)
    assert.match(otherQuery.header('cache-status') ?? '', /uri-miss/)
    const otherHost = await send(`${proxy.url}/k?a=1`, { headers: { host: 'other.example' } })
    assert.match(otherHost.header('cache-status') ?? '', /uri-miss/)
    const same = await send(`${proxy.url}/k?a=1`, { method: 'HEAD' })
    assert.match(same.header('cache-status') ?? '', /; hit/)
  })
})
