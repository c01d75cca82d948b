/**
 * Stale responses through the proxy: revalidation with the origin, stale-while-revalidate,
 * stale-if-error and the client's own cache directives. Time comes from a fake clock.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { after, before, beforeEach, describe, test } from 'node:test'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

describe('stale responses', () => {
  let origin: Origin
  let proxy: TestProxy
  const clock = createFakeClock()
  /** What the origin answers now; each test sets it. */
  let behave: (req: IncomingMessage, res: ServerResponse) => void

  before(async () => {
    origin = await startOrigin((req, res) => behave(req, res))
    // These tests are of RFC 9111's request directives, which edgecache ignores by default.
    proxy = await startProxy({
      upstream: origin.url,
      clock,
      env: { EDGECACHE_CACHE__REQUEST_DIRECTIVES: 'honour' },
    })
  })

  beforeEach(() => {
    origin.requests.length = 0
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('RFC 9111 §4.3: a stale response is revalidated and a 304 updates its headers', async () => {
    behave = (req, res) => {
      if (req.headers['if-none-match'] === '"e1"') {
        res.writeHead(304, { etag: '"e1"', 'cache-control': 'max-age=120', 'x-version': 'updated' })
        res.end()
        return
      }
      res.writeHead(200, { etag: '"e1"', 'cache-control': 'max-age=10', 'x-version': 'first' })
      res.end('payload')
    }
    await send(`${proxy.url}/rv`)
    clock.advance(11_000)
    const revalidated = await send(`${proxy.url}/rv`)
    assert.equal(origin.requests.at(-1)?.headers['if-none-match'], '"e1"')
    assert.equal(revalidated.status, 200)
    assert.equal(revalidated.text, 'payload')
    assert.equal(revalidated.header('x-version'), 'updated')
    assert.equal(revalidated.header('cache-status'), 'edgecache; fwd=stale; fwd-status=304; ttl=120; stored')
    clock.advance(60_000)
    const hit = await send(`${proxy.url}/rv`)
    assert.match(hit.header('cache-status') ?? '', /; hit; ttl=60/)
    assert.equal(hit.header('x-version'), 'updated')
    assert.equal(hit.header('content-length'), '7')
    assert.equal(origin.count('/rv'), 2)
  })

  test('RFC 9111 §5.2.1.4: request no-cache revalidates even a fresh response', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end('x')
    }
    await send(`${proxy.url}/nc`)
    const forced = await send(`${proxy.url}/nc`, { headers: { 'cache-control': 'no-cache' } })
    assert.match(forced.header('cache-status') ?? '', /fwd=request/)
    const pragma = await send(`${proxy.url}/nc`, { headers: { pragma: 'no-cache' } })
    assert.match(pragma.header('cache-status') ?? '', /fwd=request/)
    assert.equal(origin.count('/nc'), 3)
  })

  test('RFC 9111 §5.2.1.7: only-if-cached answers 504 when nothing is stored', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end('x')
    }
    const reply = await send(`${proxy.url}/oic`, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(reply.status, 504)
    assert.equal(origin.count('/oic'), 0)
    await send(`${proxy.url}/oic`)
    const cached = await send(`${proxy.url}/oic`, { headers: { 'cache-control': 'only-if-cached' } })
    assert.equal(cached.status, 200)
  })

  test('RFC 5861 §3: stale-while-revalidate answers stale at once and refreshes once in the background', async () => {
    let version = 1
    behave = (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60' })
      res.end(`v${version}`)
    }
    await send(`${proxy.url}/swr`)
    version = 2
    clock.advance(15_000)
    const stale = await send(`${proxy.url}/swr`)
    assert.equal(stale.text, 'v1')
    assert.equal(stale.header('cache-status'), 'edgecache; hit; ttl=-5; detail=stale-while-revalidate')
    await waitFor(() => origin.count('/swr') === 2)
    await waitFor(async () => (await send(`${proxy.url}/swr`)).text === 'v2')
    const fresh = await send(`${proxy.url}/swr`)
    assert.match(fresh.header('cache-status') ?? '', /; hit; ttl=10/)
    assert.equal(origin.count('/swr'), 2)
  })

  test('RFC 5861 §3: concurrent stale hits trigger one background refresh', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let calls = 0
    behave = (_req, res) => {
      calls++
      const answer = () => {
        res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60' })
        res.end('body')
      }
      if (calls === 1) answer()
      else void gate.then(answer)
    }
    await send(`${proxy.url}/swr1`)
    clock.advance(20_000)
    const replies = await Promise.all(Array.from({ length: 10 }, () => send(`${proxy.url}/swr1`)))
    for (const r of replies) assert.match(r.header('cache-status') ?? '', /detail=stale-while-revalidate/)
    await waitFor(() => origin.count('/swr1') === 2)
    release()
    await waitFor(async () =>
      /; hit; ttl=10/.test((await send(`${proxy.url}/swr1`)).header('cache-status') ?? ''),
    )
    assert.equal(origin.count('/swr1'), 2)
  })

  test('RFC 5861 §4: stale-if-error serves stale when the origin answers 5xx', async () => {
    let failing = false
    behave = (_req, res) => {
      if (failing) {
        res.writeHead(503, { 'content-type': 'text/plain' })
        res.end('down')
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=300' })
      res.end('good')
    }
    await send(`${proxy.url}/sie`)
    failing = true
    clock.advance(20_000)
    const reply = await send(`${proxy.url}/sie`)
    assert.equal(reply.status, 200)
    assert.equal(reply.text, 'good')
    assert.equal(
      reply.header('cache-status'),
      'edgecache; fwd=stale; fwd-status=503; ttl=-10; detail=stale-if-error',
    )
    clock.advance(400_000)
    const tooOld = await send(`${proxy.url}/sie`)
    assert.equal(tooOld.status, 503)
  })

  test('RFC 9111 §5.2.2.2: must-revalidate forbids stale-if-error', async () => {
    let failing = false
    behave = (_req, res) => {
      if (failing) {
        res.writeHead(500)
        res.end('broken')
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=10, must-revalidate, stale-if-error=300' })
      res.end('good')
    }
    await send(`${proxy.url}/mr`)
    failing = true
    clock.advance(20_000)
    const reply = await send(`${proxy.url}/mr`)
    assert.equal(reply.status, 500)
  })

  test('RFC 9111 §5.2.1.2: max-stale lets a client accept a stale response', async () => {
    behave = (_req, res) => {
      // stale-if-error keeps the entry stored past its freshness, so max-stale can use it
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=600' })
      res.end('ms')
    }
    await send(`${proxy.url}/ms`)
    clock.advance(30_000)
    const reply = await send(`${proxy.url}/ms`, { headers: { 'cache-control': 'max-stale=60' } })
    assert.equal(reply.header('cache-status'), 'edgecache; hit; ttl=-20; detail=max-stale')
    assert.equal(origin.count('/ms'), 1)
  })

  test("RFC 9213: edgecache's own targeted field governs and is consumed; CDN-Cache-Control goes on to a CDN in front", async () => {
    behave = (_req, res) => {
      res.writeHead(200, {
        'cache-control': 'no-store',
        'cdn-cache-control': 'max-age=30',
        'edgecache-cache-control': 'max-age=90',
      })
      res.end('t')
    }
    const first = await send(`${proxy.url}/tg`)
    assert.match(first.header('cache-status') ?? '', /stored; ttl=90|ttl=90; stored/)
    assert.equal(first.header('edgecache-cache-control'), undefined)
    assert.equal(first.header('cdn-cache-control'), 'max-age=30')
    assert.equal(first.header('cache-control'), 'no-store')
    const hit = await send(`${proxy.url}/tg`)
    assert.match(hit.header('cache-status') ?? '', /; hit/)
    assert.equal(hit.header('edgecache-cache-control'), undefined)
    assert.equal(hit.header('cdn-cache-control'), 'max-age=30')
  })

  test('RFC 9213 §2.1, RFC 9651: a targeted field that is no valid Dictionary is ignored whole; Cache-Control applies', async () => {
    behave = (_req, res) => {
      res.writeHead(200, { 'cache-control': 'no-store', 'edgecache-cache-control': 'max-age="90"' })
      res.end('t')
    }
    const first = await send(`${proxy.url}/tg-bad`)
    assert.doesNotMatch(first.header('cache-status') ?? '', /stored/)
    await send(`${proxy.url}/tg-bad`)
    assert.equal(origin.count('/tg-bad'), 2)
  })
})

describe('stale when the origin cannot be reached (RFC 9111 §4.2.4)', () => {
  let origin: Origin
  let proxy: TestProxy
  let strict: TestProxy
  const clock = createFakeClock()
  /** How the origin answers a request whose path is in it: reset the connection, or a 503. */
  const failing = new Map<string, 'reset' | '503'>()

  before(async () => {
    origin = await startOrigin((req, res) => {
      const failure = failing.get(req.url ?? '')
      if (failure === 'reset') {
        res.socket?.destroy()
        return
      }
      if (failure === '503') {
        res.writeHead(503).end('down')
        return
      }
      const mustRevalidate = req.url?.startsWith('/mr') === true
      res.writeHead(200, { 'cache-control': mustRevalidate ? 'max-age=10, must-revalidate' : 'max-age=10' })
      res.end(`good ${req.url}`)
    })
    proxy = await startProxy({ upstream: origin.url, clock })
    // The grace turned off: a disconnected origin is an error, as before.
    strict = await startProxy({
      upstream: origin.url,
      clock,
      env: { EDGECACHE_CACHE__STALE_IF_DISCONNECTED: '0s' },
    })
  })

  after(async () => {
    await proxy.close()
    await strict.close()
    await origin.close()
    await closeClient()
  })

  async function storedThenFailing(path: string, failure: 'reset' | '503', on = proxy) {
    await send(`${on.url}${path}`)
    failing.set(path, failure)
    clock.advance(20_000)
    return send(`${on.url}${path}`)
  }

  test('RFC 9111 §4.2.4: an origin that resets the connection is answered from the stale response, saying so', async () => {
    const reply = await storedThenFailing('/gone', 'reset')
    assert.equal(reply.status, 200)
    assert.equal(reply.text, 'good /gone')
    assert.equal(reply.header('cache-status'), 'edgecache; fwd=stale; ttl=-10; detail=disconnected')
  })

  test('RFC 9111 §4.2.4: must-revalidate forbids it', async () => {
    const reply = await storedThenFailing('/mr-gone', 'reset')
    assert.equal(reply.status, 502)
  })

  test('a 5xx answer is not a disconnection: passed on without stale-if-error', async () => {
    const reply = await storedThenFailing('/answered', '503')
    assert.equal(reply.status, 503)
  })

  test('past the grace (cache.staleIfDisconnected, 1h by default) the failure is answered', async () => {
    await storedThenFailing('/long-gone', 'reset')
    clock.advance(3_600_000)
    assert.equal((await send(`${proxy.url}/long-gone`)).status, 502)
  })

  test('cache.staleIfDisconnected 0 turns it off', async () => {
    const reply = await storedThenFailing('/strict-gone', 'reset', strict)
    assert.equal(reply.status, 502)
  })
})
