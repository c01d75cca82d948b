/**
 * Partial content through a real origin and a real proxy (RFC 9111 §3.3, §3.4): with
 * `rangeRequests: parts`, a single-range GET goes upstream with its Range, the 206 is kept
 * as a part, parts of one strong validator are combined, and a range they cover is a hit.
 * The origin answers Range itself, with 206, Content-Range and a strong ETag.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, type Reply, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { startTwoWorkers } from '../support/workers.ts'

const TOKEN = 'partial-content-token-0001'

/** Bytes of a representation: `/big` paths are 40,000 long, others 1,000; the ETag is part of them. */
function bodyOf(path: string, etag: string): Buffer {
  const size = path.includes('/big') ? 40_000 : 1000
  const seed = `${path}${etag}`
  return Buffer.from(Array.from({ length: size }, (_, i) => 97 + ((i + seed.length * 7) % 26)))
}

/**
 * An origin that answers one byte range itself (206 with Content-Range), honours If-Range,
 * and answers everything else whole. The ETag of a path is `etags.get(path)` or `"v1"`; a
 * path with `/weak` gets a weak one, a path with `/lm` none but a Last-Modified an hour old.
 */
function rangeOrigin(etags: Map<string, string>, clock: { now(): number }) {
  return startOrigin((req, res) => {
    const path = new URL(req.url ?? '/', 'http://origin').pathname
    const etag = etags.get(path) ?? (path.includes('/weak') ? 'W/"v1"' : '"v1"')
    const body = bodyOf(path, etag)
    const headers: Record<string, string> = {
      'content-type': path.includes('/text') ? 'text/plain' : 'video/mp4',
      'cache-control': 'max-age=60',
      'accept-ranges': 'bytes',
      'surrogate-key': 'videos',
      date: new Date(clock.now()).toUTCString(),
    }
    if (path.includes('/lm')) headers['last-modified'] = new Date(clock.now() - 3_600_000).toUTCString()
    else headers.etag = etag
    const ifRange = req.headers['if-range']
    const match = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '')
    if (match === null || (ifRange !== undefined && ifRange !== etag)) {
      res.writeHead(200, headers)
      res.end(body)
      return
    }
    const [, first = '', last = ''] = match
    const start = first === '' ? body.length - Number(last) : Number(first)
    const end = first === '' || last === '' ? body.length - 1 : Math.min(Number(last), body.length - 1)
    headers['content-range'] = `bytes ${start}-${end}/${body.length}`
    res.writeHead(206, headers)
    res.end(body.subarray(start, end + 1))
  })
}

function expectPart(reply: Reply, whole: Buffer, start: number, end: number): void {
  assert.equal(reply.status, 206, reply.text)
  assert.equal(reply.header('content-range'), `bytes ${start}-${end}/${whole.length}`)
  assert.deepEqual(reply.body, whole.subarray(start, end + 1))
}

describe('partial content, rangeRequests: parts', () => {
  let origin: Origin
  let proxy: TestProxy
  let dir: string
  const clock = createFakeClock()
  const etags = new Map<string, string>()

  before(async () => {
    origin = await rangeOrigin(etags, clock)
    dir = mkdtempSync(join(tmpdir(), 'edgecache-parts-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      [
        'routes:',
        '  - name: videos',
        '    match: { pathPrefix: /v/ }',
        '    cache: { rangeRequests: parts }',
      ].join('\n'),
    )
    proxy = await startProxy({
      upstream: origin.url,
      clock,
      env: {
        EDGECACHE_ROUTES: routes,
        EDGECACHE_ADMIN_TOKEN: TOKEN,
        EDGECACHE_STORAGE__LOCAL__MAX_OBJECT_BYTES: '20000',
      },
    })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
    rmSync(dir, { recursive: true, force: true })
  })

  const get = (path: string, headers: Record<string, string> = {}) => send(`${proxy.url}${path}`, { headers })
  const range = (path: string, spec: string, headers: Record<string, string> = {}) =>
    get(path, { range: `bytes=${spec}`, ...headers })

  test('RFC 9111 §3.3: a 206 to a single-range request is stored as a part and answers that range as a hit', async () => {
    const whole = bodyOf('/v/one', '"v1"')
    const first = await range('/v/one', '0-99')
    expectPart(first, whole, 0, 99)
    assert.equal(origin.requests.at(-1)?.headers.range, 'bytes=0-99')
    assert.match(first.header('cache-status') ?? '', /fwd=uri-miss; fwd-status=206; ttl=60; stored/)
    clock.advance(5_000)
    const again = await range('/v/one', '0-99')
    expectPart(again, whole, 0, 99)
    assert.match(again.header('cache-status') ?? '', /edgecache; hit; ttl=55/)
    assert.equal(again.header('age'), '5')
    assert.equal(again.header('etag'), '"v1"')
    const inside = await range('/v/one', '10-19')
    expectPart(inside, whole, 10, 19)
    assert.equal(origin.count('/v/one'), 1)
  })

  test('RFC 9111 §3.4: parts with the same strong ETag are combined and answer a range they cover together', async () => {
    const whole = bodyOf('/v/two', '"v1"')
    await range('/v/two', '0-99')
    await range('/v/two', '100-199')
    const across = await range('/v/two', '50-149')
    expectPart(across, whole, 50, 149)
    assert.match(across.header('cache-status') ?? '', /hit/)
    assert.equal(origin.count('/v/two'), 2)
  })

  test('RFC 9211 §2.2: a range the parts cover only in part goes upstream as fwd=partial, and then joins them', async () => {
    const whole = bodyOf('/v/three', '"v1"')
    await range('/v/three', '0-99')
    const partly = await range('/v/three', '50-299')
    expectPart(partly, whole, 50, 299)
    assert.match(partly.header('cache-status') ?? '', /fwd=partial; fwd-status=206/)
    assert.equal(origin.requests.at(-1)?.headers.range, 'bytes=50-299')
    expectPart(await range('/v/three', '0-299'), whole, 0, 299)
    assert.equal(origin.count('/v/three'), 2)
  })

  test('RFC 9111 §3.4: a part with a weak ETag is relayed but neither stored nor combined', async () => {
    const whole = bodyOf('/v/weak', 'W/"v1"')
    const first = await range('/v/weak', '0-99')
    expectPart(first, whole, 0, 99)
    assert.match(first.header('cache-status') ?? '', /fwd-status=206; detail=weak-validator/)
    expectPart(await range('/v/weak', '0-99'), whole, 0, 99)
    assert.equal(origin.count('/v/weak'), 2)
  })

  test('RFC 9110 §8.8.2.2: a Last-Modified an hour before Date is a strong validator for parts', async () => {
    const whole = bodyOf('/v/lm', '"v1"')
    await range('/v/lm', '0-99')
    const hit = await range('/v/lm', '0-49')
    expectPart(hit, whole, 0, 49)
    assert.match(hit.header('cache-status') ?? '', /hit/)
    assert.equal(origin.count('/v/lm'), 1)
  })

  test('RFC 9111 §3.4: a part with another strong ETag replaces the stored parts', async () => {
    await range('/v/changed', '0-99')
    etags.set('/v/changed', '"v2"')
    const newer = bodyOf('/v/changed', '"v2"')
    expectPart(await range('/v/changed', '200-299'), newer, 200, 299)
    // The v1 part is gone: its range goes upstream again and comes back as v2.
    const first = await range('/v/changed', '0-99')
    expectPart(first, newer, 0, 99)
    assert.match(first.header('cache-status') ?? '', /fwd=partial/)
    assert.equal(origin.count('/v/changed'), 3)
    expectPart(await range('/v/changed', '0-99'), newer, 0, 99)
    assert.equal(origin.count('/v/changed'), 3)
  })

  test('RFC 9110 §15.3.7.3: parts that cover the whole representation are stored as a complete 200', async () => {
    const whole = bodyOf('/v/full', '"v1"')
    await range('/v/full', '0-499')
    await range('/v/full', '500-')
    const all = await get('/v/full')
    assert.equal(all.status, 200)
    assert.equal(all.header('content-length'), '1000')
    assert.equal(all.header('content-range'), undefined)
    assert.deepEqual(all.body, whole)
    assert.match(all.header('cache-status') ?? '', /edgecache; hit/)
    expectPart(await range('/v/full', '-10'), whole, 990, 999)
    assert.equal(origin.count('/v/full'), 2)
  })

  test('RFC 9111 §3.3: a request for the whole resource with only parts stored is a miss, and its 200 replaces them', async () => {
    const whole = bodyOf('/v/then-all', '"v1"')
    await range('/v/then-all', '0-99')
    const all = await get('/v/then-all')
    assert.equal(all.status, 200)
    assert.deepEqual(all.body, whole)
    assert.match(all.header('cache-status') ?? '', /fwd=uri-miss; fwd-status=200/)
    assert.equal(origin.requests.at(-1)?.headers.range, undefined)
    expectPart(await range('/v/then-all', '500-599'), whole, 500, 599)
    assert.equal(origin.count('/v/then-all'), 2)
  })

  test('RFC 9110 §13.1.5: If-Range is honoured: a match is a hit, another validator goes upstream for the whole', async () => {
    const whole = bodyOf('/v/if-range', '"v1"')
    await range('/v/if-range', '0-99')
    const matching = await range('/v/if-range', '0-99', { 'if-range': '"v1"' })
    expectPart(matching, whole, 0, 99)
    assert.match(matching.header('cache-status') ?? '', /hit/)
    assert.equal(origin.count('/v/if-range'), 1)
    const other = await range('/v/if-range', '0-99', { 'if-range': '"v0"' })
    assert.equal(other.status, 200)
    assert.deepEqual(other.body, whole)
    // The client's own If-Range went upstream, as it sent it.
    assert.equal(origin.requests.at(-1)?.headers['if-range'], '"v0"')
    assert.equal(origin.count('/v/if-range'), 2)
    // That whole 200 was stored: every range is a hit now.
    expectPart(await range('/v/if-range', '900-'), whole, 900, 999)
    assert.equal(origin.count('/v/if-range'), 2)
  })

  test('RFC 9110 §13.2.2: a covered range with a matching If-None-Match is a 304 from the parts', async () => {
    await range('/v/inm', '0-99')
    const notModified = await range('/v/inm', '0-99', { 'if-none-match': '"v1"' })
    assert.equal(notModified.status, 304)
    assert.equal(notModified.header('etag'), '"v1"')
    assert.match(notModified.header('cache-status') ?? '', /hit/)
    assert.equal(origin.count('/v/inm'), 1)
  })

  test('RFC 9111 §5.2.1.7: only-if-cached answers a covered range from the parts, and 504 for one they miss', async () => {
    const whole = bodyOf('/v/only', '"v1"')
    await range('/v/only', '0-99')
    expectPart(await range('/v/only', '0-9', { 'cache-control': 'only-if-cached' }), whole, 0, 9)
    const missed = await range('/v/only', '200-299', { 'cache-control': 'only-if-cached' })
    assert.equal(missed.status, 504)
    assert.match(missed.header('cache-status') ?? '', /fwd=partial; detail=only-if-cached/)
    assert.equal(origin.count('/v/only'), 1)
  })

  test('RFC 9110 §15.5.17: a range past the complete length the parts know is a 416 hit', async () => {
    await range('/v/short', '0-99')
    const past = await range('/v/short', '5000-')
    assert.equal(past.status, 416)
    assert.equal(past.header('content-range'), 'bytes */1000')
    assert.equal(origin.count('/v/short'), 1)
  })

  test('RFC 9111 §3.3: a part larger than maxObjectBytes is relayed unstored, and the parts entry stays within it', async () => {
    const whole = bodyOf('/v/big', '"v1"')
    const large = await range('/v/big', '0-24999')
    expectPart(large, whole, 0, 24999)
    assert.match(large.header('cache-status') ?? '', /detail=too-large/)
    await range('/v/big', '0-9999')
    expectPart(await range('/v/big', '0-9999'), whole, 0, 9999)
    assert.equal(origin.count('/v/big'), 2)
    // 0-9999 and 10000-21999 together pass 20,000 bytes: the newer part takes the older one's place.
    await range('/v/big', '10000-21999')
    expectPart(await range('/v/big', '10000-21999'), whole, 10000, 21999)
    assert.equal(origin.count('/v/big'), 3)
    expectPart(await range('/v/big', '0-99'), whole, 0, 99)
    assert.equal(origin.count('/v/big'), 4)
  })

  test('RFC 9111 §4.4: a POST to the URL removes its parts', async () => {
    await range('/v/posted', '0-99')
    assert.match((await range('/v/posted', '0-99')).header('cache-status') ?? '', /hit/)
    assert.equal((await send(`${proxy.url}/v/posted`, { method: 'POST', body: 'x' })).status, 200)
    assert.match((await range('/v/posted', '0-99')).header('cache-status') ?? '', /fwd=uri-miss/)
  })

  test('a URL, tag or prefix purge removes the parts like the complete response', async () => {
    const purge = (body: object) =>
      send(`${proxy.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const host = new URL(proxy.url).host
    for (const [path, selector] of [
      ['/v/purge-url', { urls: [`http://${host}/v/purge-url`] }],
      ['/v/purge-tag', { tags: ['videos'] }],
      ['/v/purge-prefix/a', { prefixes: [`http://${host}/v/purge-prefix/`] }],
    ] as const) {
      await range(path, '0-99')
      assert.match((await range(path, '0-99')).header('cache-status') ?? '', /hit/, path)
      const purged = await purge(selector)
      assert.equal(purged.status, 200, purged.text)
      assert.ok(JSON.parse(purged.text).purged >= 1, path)
      // A fetch that starts at the instant of a purge loses to it (CacheStore.set): move on.
      clock.advance(1000)
      assert.match((await range(path, '0-99')).header('cache-status') ?? '', /fwd=uri-miss/, path)
    }
  })

  test('a soft purge makes the parts stale: the range goes upstream and refreshes them', async () => {
    const whole = bodyOf('/v/soft', '"v1"')
    await range('/v/soft', '0-99')
    await range('/v/soft', '100-199')
    await send(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ urls: [`http://${new URL(proxy.url).host}/v/soft`], soft: true }),
    })
    clock.advance(1000)
    const stale = await range('/v/soft', '0-99')
    expectPart(stale, whole, 0, 99)
    assert.match(stale.header('cache-status') ?? '', /fwd=partial; fwd-status=206/)
    // Same strong validator: the refreshed part joins the soft-purged one, and both are fresh.
    expectPart(await range('/v/soft', '0-199'), whole, 0, 199)
    assert.equal(origin.count('/v/soft'), 3)
  })

  test('RFC 9110 §14.2: several ranges keep whole-mode handling: the whole response is fetched', async () => {
    const several = await get('/v/several', { range: 'bytes=0-9,20-29' })
    assert.equal(several.status, 200)
    assert.equal(origin.requests.at(-1)?.headers.range, undefined)
  })

  test('rangeRequests defaults to whole: a Range miss fetches and stores the whole response', async () => {
    const whole = bodyOf('/w/one', '"v1"')
    // The fill's own answer is the whole 200, as RFC 9110 §14.2 allows.
    const first = await range('/w/one', '0-99')
    assert.equal(first.status, 200)
    assert.deepEqual(first.body, whole)
    assert.equal(origin.requests.at(-1)?.headers.range, undefined)
    expectPart(await range('/w/one', '500-599'), whole, 500, 599)
    assert.equal(origin.count('/w/one'), 1)
  })

  test('compression never touches a part: the origin is asked for identity and the 206 goes out as it came', async () => {
    const whole = bodyOf('/v/text', '"v1"')
    const part = await range('/v/text', '0-99', { 'accept-encoding': 'gzip, br' })
    expectPart(part, whole, 0, 99)
    assert.equal(part.header('content-encoding'), undefined)
    assert.equal(origin.requests.at(-1)?.headers['accept-encoding'], 'identity')
    const hit = await range('/v/text', '0-99', { 'accept-encoding': 'gzip, br' })
    expectPart(hit, whole, 0, 99)
    assert.match(hit.header('cache-status') ?? '', /hit/)
  })
})

describe('partial content, cache.rangeRequests: parts', () => {
  test('the global setting keeps parts, and a route with rangeRequests: whole keeps whole responses', async () => {
    const clock = createFakeClock()
    const origin = await rangeOrigin(new Map(), clock)
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-parts-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      [
        'routes:',
        '  - name: whole',
        '    match: { pathPrefix: /w/ }',
        '    cache: { rangeRequests: whole }',
      ].join('\n'),
    )
    const proxy = await startProxy({
      upstream: origin.url,
      clock,
      env: { EDGECACHE_ROUTES: routes, EDGECACHE_CACHE__RANGE_REQUESTS: 'parts' },
    })
    try {
      await send(`${proxy.url}/a`, { headers: { range: 'bytes=0-9' } })
      assert.equal(origin.requests.at(-1)?.headers.range, 'bytes=0-9')
      await send(`${proxy.url}/w/a`, { headers: { range: 'bytes=0-9' } })
      assert.equal(origin.requests.at(-1)?.headers.range, undefined)
    } finally {
      await proxy.close()
      await origin.close()
      await closeClient()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('partial content with two workers', () => {
  test('RFC 9111 §3.4: a part stored by one worker answers on the other', async () => {
    const origin = await rangeOrigin(new Map(), createFakeClock(Date.now()))
    const workers = await startTwoWorkers(origin, { EDGECACHE_CACHE__RANGE_REQUESTS: 'parts' })
    try {
      await workers.warm(origin, '/warmed')
      const whole = bodyOf('/p', '"v1"')
      const get = (spec: string) =>
        send(`http://127.0.0.1:${workers.port}/p`, {
          headers: { range: `bytes=${spec}`, connection: 'close' },
        })
      expectPart(await get('0-99'), whole, 0, 99)
      // New connections: the primary hands them to both workers in turn.
      for (let i = 0; i < 4; i++) {
        const reply = await get('10-89')
        expectPart(reply, whole, 10, 89)
        assert.match(reply.header('cache-status') ?? '', /hit/, `request ${i}`)
      }
      assert.equal(origin.count('/p'), 1)
    } finally {
      workers.child.kill('SIGTERM')
      await workers.exited
      await origin.close()
      await closeClient()
    }
  })
})
