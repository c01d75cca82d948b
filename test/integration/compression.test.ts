/**
 * Compression end to end: a real origin and the proxy on loopback, with the default store
 * (local) and the memory store. A response is coded once when the cache fills and stored
 * coded; clients with other Accept-Encoding fields are answered from the same entry, coded
 * anew once or decoded on the way out; small bodies, no-transform, compressed types and
 * Range answers are left alone; entity tags are weakened and still match If-None-Match.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { brotliDecompressSync, gunzipSync, gzipSync, zstdDecompressSync } from 'node:zlib'
import { hasZstd } from '../../src/compression/encode.ts'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { startTwoWorkers, type TwoWorkers } from '../support/workers.ts'

/** 8 KiB of text that compresses as a page does: repeated words with some variety. */
function page(seed: string, bytes = 8192): Buffer {
  const words = ['cache', 'edge', 'origin', 'variant', 'coding', 'stale', 'fresh', seed]
  let text = ''
  for (let i = 0; text.length < bytes; i++) text += `${words[(i * 7) % words.length]} ${i % 97} `
  return Buffer.from(text.slice(0, bytes))
}

function serve(res: ServerResponse, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(200, { 'content-length': String(body.length), ...headers })
  res.end(body)
}

for (const driver of ['local', 'memory'] as const) {
  describe(`compression with the ${driver} store`, () => {
    let origin: Origin
    let proxy: TestProxy
    const bodies = new Map<string, Buffer>()
    const body = (path: string) => {
      let b = bodies.get(path)
      if (b === undefined) {
        b = page(path)
        bodies.set(path, b)
      }
      return b
    }

    before(async () => {
      origin = await startOrigin((req, res) => {
        const path = (req.url ?? '/').split('?')[0]!
        const cached = { 'cache-control': 'max-age=60', etag: `"${path.slice(1)}-v1"` }
        if (path === '/small')
          return serve(res, Buffer.from('a small page'), { ...cached, 'content-type': 'text/html' })
        if (path === '/no-transform') {
          return serve(res, body(path), {
            ...cached,
            'cache-control': 'max-age=60, no-transform',
            'content-type': 'text/html',
          })
        }
        if (path === '/image')
          return serve(res, randomBytes(8192), { ...cached, 'content-type': 'image/png' })
        if (path === '/image-vary') {
          return serve(res, randomBytes(8192), {
            ...cached,
            'content-type': 'image/png',
            vary: 'Accept-Encoding',
          })
        }
        if (path === '/origin-gzip') {
          // As an object store serves a file uploaded gzipped, whatever the client accepts.
          return serve(res, gzipSync(body(path)), {
            ...cached,
            'content-type': 'text/css',
            'content-encoding': 'gzip',
          })
        }
        if (path === '/origin-gzip-opaque') {
          // gzip whatever was asked, of a type not compressed here: only the stored copy's
          // decoding makes the answer depend on Accept-Encoding.
          return serve(res, gzipSync(body(path)), {
            ...cached,
            'content-type': 'application/x-edgecache-test',
            'content-encoding': 'gzip',
          })
        }
        if (path === '/streamed') {
          // No Content-Length, in pieces: the proxy codes it as it streams.
          res.writeHead(200, { ...cached, 'content-type': 'application/json' })
          const whole = page(path, 300_000)
          for (let at = 0; at < whole.length; at += 16_384) res.write(whole.subarray(at, at + 16_384))
          return void res.end()
        }
        if (path === '/slow') {
          // Slow enough that the requests below arrive while the first is fetched; were they not to
          // overlap, the later ones would be hits, and the test would still hold.
          return void setTimeout(
            () => serve(res, body(path), { ...cached, 'content-type': 'text/html' }),
            150,
          )
        }
        if (path === '/cut') {
          // Promises 300,000 bytes and dies after a third of them.
          res.writeHead(200, { ...cached, 'content-type': 'text/html', 'content-length': '300000' })
          res.write(page(path, 100_000))
          return void setImmediate(() => res.destroy())
        }
        serve(res, body(path), { ...cached, 'content-type': 'text/html; charset=utf-8' })
      })
      proxy = await startProxy({
        upstream: origin.url,
        env: {
          EDGECACHE_STORAGE__DRIVER: driver,
          // image/* is asked for here so that the already-compressed rule is what skips PNGs.
          EDGECACHE_COMPRESSION__TYPES: 'text/html,text/css,application/json,image/*',
        },
      })
    })
    after(async () => {
      await proxy.close()
      await origin.close()
      await closeClient()
    })

    const get = (path: string, headers: Record<string, string> = {}) =>
      send(`${proxy.url}${path}`, { headers })
    const entries = () => proxy.app.store.stats().entries

    test('Accept-Encoding: br gets a br body of the origin bytes, and a client accepting nothing gets identity from the same entry', async () => {
      const br = await get('/br', { 'accept-encoding': 'br' })
      assert.equal(br.status, 200)
      assert.equal(br.header('content-encoding'), 'br')
      assert.match(br.header('cache-status') ?? '', /fwd=uri-miss; fwd-status=200; .*stored/)
      assert.deepEqual(brotliDecompressSync(br.body), body('/br'))
      // Asked of the origin: the chosen coding only.
      assert.equal(origin.requests.at(-1)?.headers['accept-encoding'], 'br')

      const plain = await get('/br')
      assert.equal(plain.status, 200)
      assert.equal(plain.header('content-encoding'), undefined)
      assert.equal(plain.header('content-length'), String(body('/br').length))
      assert.equal(plain.header('etag'), 'W/"br-v1"')
      assert.deepEqual(plain.body, body('/br'))
      assert.match(plain.header('cache-status') ?? '', /hit/)
      assert.equal(origin.count('/br'), 1)
    })

    test('every Accept-Encoding that selects br shares the one stored br variant', async () => {
      await get('/shared', { 'accept-encoding': 'br' })
      const stored = entries()
      for (const field of ['gzip, deflate, br, zstd', 'br;q=1.0, gzip;q=0.5', 'BR', '*']) {
        const res = await get('/shared', { 'accept-encoding': field })
        assert.equal(res.header('content-encoding'), 'br', field)
        assert.match(res.header('cache-status') ?? '', /hit/, field)
      }
      assert.equal(origin.count('/shared'), 1)
      assert.equal(entries(), stored, 'no variant stored per field text')
    })

    test('gzip: a fresh miss is coded gzip; a URL stored in br is coded gzip from it once, without the origin', async () => {
      const fresh = await get('/gzip', { 'accept-encoding': 'gzip' })
      assert.equal(fresh.header('content-encoding'), 'gzip')
      assert.deepEqual(gunzipSync(fresh.body), body('/gzip'))

      await get('/both', { 'accept-encoding': 'br' })
      const before = entries()
      const first = await get('/both', { 'accept-encoding': 'gzip, deflate' })
      assert.equal(first.header('content-encoding'), 'gzip')
      assert.deepEqual(gunzipSync(first.body), body('/both'))
      assert.match(first.header('cache-status') ?? '', /hit/)
      assert.equal(entries(), before + 1, 'the gzip variant is stored')
      const second = await get('/both', { 'accept-encoding': 'gzip' })
      assert.equal(second.header('content-encoding'), 'gzip')
      assert.deepEqual(second.body, first.body)
      assert.equal(entries(), before + 1, 'and stored once')
      assert.equal(origin.count('/both'), 1)
    })

    test('zstd is offered when node has it', { skip: !hasZstd() && 'no zstd in this node' }, async () => {
      const res = await get('/zstd', { 'accept-encoding': 'zstd' })
      assert.equal(res.header('content-encoding'), 'zstd')
      assert.deepEqual(zstdDecompressSync(res.body), body('/zstd'))
    })

    test('every negotiated answer says Vary: Accept-Encoding, identity ones too', async () => {
      const plain = await get('/vary')
      assert.equal(plain.header('content-encoding'), undefined)
      assert.equal(plain.header('vary'), 'Accept-Encoding')
      const coded = await get('/vary', { 'accept-encoding': 'br' })
      assert.equal(coded.header('vary'), 'Accept-Encoding')
      const hit = await get('/vary')
      assert.match(hit.header('cache-status') ?? '', /hit/)
      assert.equal(hit.header('vary'), 'Accept-Encoding')
    })

    test('a body under the minimum size is sent as it is', async () => {
      const res = await get('/small', { 'accept-encoding': 'br, gzip' })
      assert.equal(res.header('content-encoding'), undefined)
      assert.equal(res.text, 'a small page')
      assert.equal(res.header('vary'), undefined)
    })

    test('no-transform is honoured', async () => {
      const res = await get('/no-transform', { 'accept-encoding': 'br, gzip' })
      assert.equal(res.header('content-encoding'), undefined)
      assert.deepEqual(res.body, body('/no-transform'))
      assert.equal(res.header('etag'), '"no-transform-v1"')
    })

    test('an already-compressed type is not compressed, even when a pattern names it', async () => {
      const res = await get('/image', { 'accept-encoding': 'br, gzip' })
      assert.equal(res.header('content-encoding'), undefined)
      assert.equal(res.body.length, 8192)
    })

    test('an image the origin itself varies by Accept-Encoding is never coded from another stored variant', async () => {
      await get('/image-vary')
      const res = await get('/image-vary', { 'accept-encoding': 'gzip' })
      assert.equal(res.header('content-encoding'), undefined)
      assert.equal(res.body.length, 8192)
      assert.equal(origin.count('/image-vary'), 2)
    })

    test('the ETag of a coded body is weak, and If-None-Match with it or the origin tag gets 304', async () => {
      const coded = await get('/etag', { 'accept-encoding': 'br' })
      assert.equal(coded.header('etag'), 'W/"etag-v1"')
      for (const tag of ['W/"etag-v1"', '"etag-v1"']) {
        const res = await get('/etag', { 'accept-encoding': 'br', 'if-none-match': tag })
        assert.equal(res.status, 304, tag)
        assert.equal(res.header('etag'), 'W/"etag-v1"')
      }
      const other = await get('/etag', { 'accept-encoding': 'br', 'if-none-match': '"etag-v0"' })
      assert.equal(other.status, 200)
      assert.equal(origin.count('/etag'), 1)
    })

    test('a Range request gets no part of a coded body: the coded body whole, or a part of the decoded one', async () => {
      await get('/range', { 'accept-encoding': 'br' })
      const coded = await get('/range', { 'accept-encoding': 'br', range: 'bytes=0-99' })
      assert.equal(coded.status, 200)
      assert.equal(coded.header('content-encoding'), 'br')
      assert.equal(coded.header('accept-ranges'), undefined)
      assert.deepEqual(brotliDecompressSync(coded.body), body('/range'))
      // Stored br only: a small body decoded for this client, and the part cut from that.
      const plain = await get('/range', { range: 'bytes=0-99' })
      assert.equal(plain.status, 206)
      assert.equal(plain.header('content-encoding'), undefined)
      assert.equal(plain.header('content-range'), `bytes 0-99/${body('/range').length}`)
      assert.deepEqual(plain.body, body('/range').subarray(0, 100))
      // Stored as the origin sent it: identity ranges are served as ever.
      await get('/range-identity')
      const part = await get('/range-identity', { range: 'bytes=0-99' })
      assert.equal(part.status, 206)
      assert.deepEqual(part.body, body('/range-identity').subarray(0, 100))
      assert.equal(origin.count('/range'), 1)
    })

    test('an origin that sends gzip whatever was asked: decoded for identity, coded br for br', async () => {
      const plain = await get('/origin-gzip')
      assert.equal(plain.header('content-encoding'), undefined)
      assert.deepEqual(plain.body, body('/origin-gzip'))
      const br = await get('/origin-gzip', { 'accept-encoding': 'br' })
      assert.equal(br.header('content-encoding'), 'br')
      assert.deepEqual(brotliDecompressSync(br.body), body('/origin-gzip'))
    })

    test('a gzip body decoded for clients that do not take it says Vary: Accept-Encoding, coded or not (RFC 9110 §12.5.5)', async () => {
      const miss = await get('/origin-gzip-opaque', { 'accept-encoding': 'gzip' })
      assert.equal(miss.header('content-encoding'), 'gzip')
      assert.match(String(miss.header('vary')), /accept-encoding/i)
      const coded = await get('/origin-gzip-opaque', { 'accept-encoding': 'gzip' })
      assert.match(String(coded.header('cache-status')), /hit/)
      assert.equal(coded.header('content-encoding'), 'gzip')
      assert.match(String(coded.header('vary')), /accept-encoding/i)
      const plain = await get('/origin-gzip-opaque')
      assert.equal(plain.header('content-encoding'), undefined)
      assert.deepEqual(plain.body, body('/origin-gzip-opaque'))
      assert.match(String(plain.header('vary')), /accept-encoding/i)
    })

    test('concurrent misses with different Accept-Encoding make one origin request, each answered in its coding', async () => {
      const [br, alsoBr, plain] = await Promise.all([
        get('/slow', { 'accept-encoding': 'br' }),
        get('/slow', { 'accept-encoding': 'gzip, deflate, br' }),
        get('/slow'),
      ])
      assert.equal(br.header('content-encoding'), 'br')
      assert.deepEqual(brotliDecompressSync(br.body), body('/slow'))
      assert.equal(alsoBr.header('content-encoding'), 'br')
      assert.deepEqual(brotliDecompressSync(alsoBr.body), body('/slow'))
      assert.equal(plain.header('content-encoding'), undefined)
      assert.deepEqual(plain.body, body('/slow'))
      assert.equal(origin.count('/slow'), 1)
    })

    test('a body cut short while it is coded reaches the client cut short and is never stored', async () => {
      const before = entries()
      await assert.rejects(get('/cut', { 'accept-encoding': 'br' }))
      assert.equal(entries(), before)
      await assert.rejects(get('/cut', { 'accept-encoding': 'br' }))
      assert.equal(origin.count('/cut'), 2)
    })

    test('a streamed body is coded as it streams, stored, and decoded for a hit that accepts nothing', async () => {
      const br = await get('/streamed', { 'accept-encoding': 'br' })
      assert.equal(br.header('content-encoding'), 'br')
      const whole = page('/streamed', 300_000)
      assert.deepEqual(brotliDecompressSync(br.body), whole)
      assert.ok(br.body.length < whole.length / 4)
      const plain = await get('/streamed')
      assert.match(plain.header('cache-status') ?? '', /hit/)
      assert.deepEqual(plain.body, whole)
      // Too large to decode in one call: it streams, sent whole whatever Range asks.
      const ranged = await get('/streamed', { range: 'bytes=0-99' })
      assert.equal(ranged.status, 200)
      assert.deepEqual(ranged.body, whole)
      assert.equal(origin.count('/streamed'), 1)
    })
  })
}

describe('compression and revalidation', () => {
  const clock = createFakeClock()
  let origin: Origin
  let proxy: TestProxy
  const text = page('revalidated')
  before(async () => {
    origin = await startOrigin((req, res) => {
      const headers = {
        'cache-control': 'max-age=10',
        etag: '"r1"',
        'content-type': 'text/html',
        date: new Date(clock.now()).toUTCString(),
      }
      if (req.headers['if-none-match'] !== undefined) {
        // Weak comparison, as RFC 9110 §13.1.2 asks of If-None-Match.
        assert.equal(req.headers['if-none-match'], 'W/"r1"')
        res.writeHead(304, headers)
        return void res.end()
      }
      serve(res, text, headers)
    })
    proxy = await startProxy({ upstream: origin.url, clock, env: { EDGECACHE_STORAGE__DRIVER: 'memory' } })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('a stale coded variant revalidated with a 304 stays coded, with its weak ETag', async () => {
    const get = () => send(`${proxy.url}/page`, { headers: { 'accept-encoding': 'br' } })
    const first = await get()
    assert.equal(first.header('content-encoding'), 'br')
    clock.advance(11_000)
    const again = await get()
    assert.match(again.header('cache-status') ?? '', /fwd=stale; fwd-status=304/)
    assert.equal(again.header('content-encoding'), 'br')
    assert.equal(again.header('etag'), 'W/"r1"')
    assert.deepEqual(brotliDecompressSync(again.body), text)
    const hit = await get()
    assert.match(hit.header('cache-status') ?? '', /hit/)
    assert.equal(hit.header('etag'), 'W/"r1"')
    assert.equal(origin.count('/page'), 2)
  })
})

describe('compression off', () => {
  let origin: Origin
  let proxy: TestProxy
  const text = page('off')
  before(async () => {
    origin = await startOrigin((_req, res) =>
      serve(res, text, { 'cache-control': 'max-age=60', 'content-type': 'text/html' }),
    )
    proxy = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_STORAGE__DRIVER: 'memory', EDGECACHE_COMPRESSION__ENABLED: 'false' },
    })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('compression.enabled false passes the client Accept-Encoding on and the origin body through', async () => {
    const res = await send(`${proxy.url}/off`, { headers: { 'accept-encoding': 'gzip, br' } })
    assert.equal(res.header('content-encoding'), undefined)
    assert.equal(res.header('vary'), undefined)
    assert.deepEqual(res.body, text)
    assert.equal(origin.requests.at(-1)?.headers['accept-encoding'], 'gzip, br')
  })
})

describe('compression with two workers on the default store', () => {
  const text = page('workers')
  let origin: Origin
  let workers: TwoWorkers
  before(async () => {
    origin = await startOrigin((req, res) =>
      req.url === '/warm'
        ? void res.end('warm')
        : serve(res, text, { 'cache-control': 'max-age=600', 'content-type': 'text/html' }),
    )
    workers = await startTwoWorkers(origin)
  })
  after(async () => {
    if (workers.child.exitCode === null) {
      workers.child.kill('SIGTERM')
      await workers.exited
    }
    await origin.close()
    await closeClient()
  })

  test('a br variant stored through one worker is a hit on the other, and decoded there for identity', async () => {
    // New connections: the primary hands them to the two workers in turn.
    const get = (headers: Record<string, string>) =>
      send(`http://127.0.0.1:${workers.port}/page`, { headers: { connection: 'close', ...headers } })
    await workers.warm(origin, '/warmed')
    const first = await get({ 'accept-encoding': 'br' })
    assert.equal(first.header('content-encoding'), 'br')
    assert.match(first.header('cache-status') ?? '', /stored/)
    for (let i = 0; i < 4; i++) {
      const br = await get({ 'accept-encoding': 'gzip, deflate, br' })
      assert.match(br.header('cache-status') ?? '', /hit/, `br request ${i}`)
      assert.equal(br.header('content-encoding'), 'br')
      assert.deepEqual(brotliDecompressSync(br.body), text)
      const plain = await get({})
      assert.match(plain.header('cache-status') ?? '', /hit/, `identity request ${i}`)
      assert.deepEqual(plain.body, text)
    }
    assert.equal(origin.count('/page'), 1)
  })
})
