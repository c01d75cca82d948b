/**
 * Surrogate keys end to end: tags from response fields, purges through the admin API by
 * tag, URL, prefix and all, hard and soft, and the purge race.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const TOKEN = 'test-admin-token-1234'

describe('surrogate keys and invalidation', () => {
  let origin: Origin
  let proxy: TestProxy
  const clock = createFakeClock()
  let version = 1
  let gate: Promise<void> | undefined

  before(async () => {
    origin = await startOrigin(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin')
      if (url.pathname.startsWith('/race') && gate !== undefined) await gate
      const headers: Record<string, string> = {
        'cache-control': url.searchParams.get('cc') ?? 'max-age=600',
        'content-type': 'text/plain',
      }
      const sk = url.searchParams.get('sk')
      const ct = url.searchParams.get('ct')
      if (sk !== null) headers['surrogate-key'] = sk
      if (ct !== null) headers['cache-tag'] = ct
      if (url.pathname.startsWith('/vary')) headers.vary = 'accept-language'
      res.writeHead(200, headers)
      res.end(`${url.pathname} v${version}`)
    })
    proxy = await startProxy({ upstream: origin.url, clock, env: { EDGECACHE_ADMIN_TOKEN: TOKEN } })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  function invalidate(body: unknown, token: string | null = TOKEN) {
    return send(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  }

  async function status(path: string, headers: Record<string, string> = {}) {
    return (await send(`${proxy.url}${path}`, { headers })).header('cache-status') ?? ''
  }

  test('tags come from Surrogate-Key and Cache-Tag, and the fields do not reach the client', async () => {
    const reply = await send(`${proxy.url}/t1?sk=product:1%20home&ct=cat:a,%20cat:b`)
    assert.equal(reply.header('surrogate-key'), undefined)
    assert.equal(reply.header('cache-tag'), undefined)
    const keys = await proxy.app.store.keysForTag('product:1')
    assert.equal(keys.length, 1)
    for (const tag of ['home', 'cat:a', 'cat:b'])
      assert.deepEqual(await proxy.app.store.keysForTag(tag), keys)
  })

  test('a tag purge removes exactly the tagged entries; others still hit', async () => {
    await send(`${proxy.url}/p42a?sk=product:42`)
    await send(`${proxy.url}/p42b?ct=product:42`)
    await send(`${proxy.url}/p43?sk=product:43`)
    const dry = await invalidate({ tags: ['product:42'], dryRun: true })
    assert.equal(JSON.parse(dry.text).purged, 2)
    assert.match(await status('/p42a?sk=product:42'), /; hit/)

    const reply = await invalidate({ tags: ['product:42', 'nothing-here'] })
    assert.equal(reply.status, 200)
    const result = JSON.parse(reply.text)
    assert.equal(result.purged, 2)
    assert.equal(result.soft, false)
    assert.equal(typeof result.tookMs, 'number')
    assert.match(await status('/p42a?sk=product:42'), /fwd=uri-miss/)
    assert.match(await status('/p42b?ct=product:42'), /fwd=uri-miss/)
    assert.match(await status('/p43?sk=product:43'), /; hit/)
  })

  test('a soft purge serves stale within stale-while-revalidate while a refresh brings a fresh one', async () => {
    const path = '/soft?sk=news&cc=max-age=600,stale-while-revalidate=60'
    version = 1
    await send(`${proxy.url}${path}`)
    version = 2
    const reply = await invalidate({ tags: ['news'], soft: true })
    assert.deepEqual(
      { ...JSON.parse(reply.text), tookMs: 0 },
      { purged: 1, soft: true, dryRun: false, tookMs: 0 },
    )
    // The refresh starts after the purge: a fetch that starts in the purge's own millisecond
    // is conservatively counted as older than it.
    clock.advance(1)
    const stale = await send(`${proxy.url}${path}`)
    assert.equal(stale.text, '/soft v1')
    assert.match(stale.header('cache-status') ?? '', /; hit; ttl=-1; detail=stale-while-revalidate/)
    await waitFor(async () => (await send(`${proxy.url}${path}`)).text === '/soft v2')
    assert.match(await status(path), /; hit; ttl=600/)
  })

  test('a soft purge without stale windows revalidates before use', async () => {
    const path = '/soft2?sk=strict&cc=max-age=600'
    await send(`${proxy.url}${path}`)
    await invalidate({ tags: ['strict'], soft: true })
    assert.match(await status(path), /fwd=stale; fwd-status=200/)
  })

  test('a URL purge removes every Vary variant of that URL only', async () => {
    await send(`${proxy.url}/vary1`, { headers: { 'accept-language': 'en' } })
    await send(`${proxy.url}/vary1`, { headers: { 'accept-language': 'fr' } })
    await send(`${proxy.url}/vary2`, { headers: { 'accept-language': 'en' } })
    const { port } = new URL(proxy.url)
    const reply = await invalidate({ urls: [`http://127.0.0.1:${port}/vary1`] })
    assert.equal(JSON.parse(reply.text).purged, 3) // the Vary marker and two variants
    assert.match(await status('/vary1', { 'accept-language': 'en' }), /uri-miss/)
    assert.match(await status('/vary1', { 'accept-language': 'fr' }), /miss/)
    assert.match(await status('/vary2', { 'accept-language': 'en' }), /; hit/)
  })

  test('a prefix purge removes the URLs under it only', async () => {
    await send(`${proxy.url}/shop/p/1`)
    await send(`${proxy.url}/shop/p/2`)
    await send(`${proxy.url}/shop/q/1`)
    const { port } = new URL(proxy.url)
    const reply = await invalidate({ prefixes: [`http://127.0.0.1:${port}/shop/p/`] })
    assert.equal(JSON.parse(reply.text).purged, 2)
    assert.match(await status('/shop/p/1'), /uri-miss/)
    assert.match(await status('/shop/q/1'), /; hit/)
  })

  test('a purge of everything empties the cache', async () => {
    await send(`${proxy.url}/everything`)
    const reply = await invalidate({ all: true })
    assert.ok(JSON.parse(reply.text).purged >= 1)
    assert.equal(proxy.app.store.stats().entries, 0)
  })

  test('a response fetched before a purge and stored after it does not survive the purge', async () => {
    let release: () => void = () => {}
    gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const pending = send(`${proxy.url}/race?sk=racy`)
    await waitFor(() => origin.count('/race?sk=racy') === 1)
    await invalidate({ tags: ['racy'] })
    release()
    gate = undefined
    const first = await pending
    assert.equal(first.status, 200)
    await waitFor(() => proxy.app.collapsing().keys === 0)
    assert.match(await status('/race?sk=racy'), /uri-miss/)
    assert.equal(origin.count('/race?sk=racy'), 2)
  })

  test('invalidation needs the bearer token and a well-formed body', async () => {
    assert.equal((await invalidate({ tags: ['x'] }, null)).status, 401)
    assert.equal((await invalidate({ tags: ['x'] }, 'wrong')).status, 401)
    const bad = await invalidate('{not json')
    assert.equal(bad.status, 400)
    const unknown = await invalidate({ tag: ['x'] })
    assert.equal(unknown.status, 400)
    assert.match(unknown.text, /tag/)
    assert.equal((await invalidate({})).status, 400)
    assert.doesNotMatch(JSON.stringify(proxy.logs), new RegExp(TOKEN))
  })
})

describe('the PURGE method on the public listener', () => {
  let origin: Origin
  let open: TestProxy
  let closed: TestProxy
  let off: TestProxy

  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(`${req.method} ${req.url}`)
    })
    open = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_SERVER__PURGE_METHOD__ENABLED: 'true',
        EDGECACHE_SERVER__PURGE_METHOD__ALLOW: '127.0.0.0/8',
      },
    })
    closed = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_SERVER__PURGE_METHOD__ENABLED: 'true',
        EDGECACHE_SERVER__PURGE_METHOD__ALLOW: '10.0.0.0/8',
      },
    })
    off = await startProxy({ upstream: origin.url })
  })

  after(async () => {
    await open.close()
    await closed.close()
    await off.close()
    await origin.close()
    await closeClient()
  })

  test('PURGE from an allowed address purges that URL', async () => {
    await send(`${open.url}/purge-me`)
    const reply = await send(`${open.url}/purge-me`, { method: 'PURGE' })
    assert.equal(reply.status, 200)
    assert.deepEqual(JSON.parse(reply.text), { purged: 1 })
    assert.match((await send(`${open.url}/purge-me`)).header('cache-status') ?? '', /uri-miss/)
    assert.equal(origin.requests.filter((r) => r.method === 'PURGE').length, 0)
  })

  test('PURGE from an address outside the allowed ranges gets 403 and purges nothing', async () => {
    await send(`${closed.url}/kept`)
    assert.equal((await send(`${closed.url}/kept`, { method: 'PURGE' })).status, 403)
    assert.match((await send(`${closed.url}/kept`)).header('cache-status') ?? '', /; hit/)
  })

  test('with the PURGE method off, PURGE is answered 405 and never forwarded', async () => {
    const reply = await send(`${off.url}/x`, { method: 'PURGE' })
    assert.equal(reply.status, 405)
    assert.notEqual(reply.text, 'PURGE /x')
  })
})

describe('tag limits', () => {
  test('tags past surrogate.maxTags are dropped and counted; the response is still stored', async () => {
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'a b c d e' })
      res.end('many tags')
    })
    const proxy = await startProxy({ upstream: origin.url, env: { EDGECACHE_SURROGATE__MAX_TAGS: '3' } })
    try {
      await send(`${proxy.url}/many`)
      await waitFor(async () => /; hit/.test((await send(`${proxy.url}/many`)).header('cache-status') ?? ''))
      // the URL tag is edgecache's own and does not count against the limit
      assert.equal((await proxy.app.store.keysForTag('c')).length, 1)
      assert.equal((await proxy.app.store.keysForTag('d')).length, 0)
      const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
      assert.match(metrics, /^edgecache_surrogate_tags_dropped_total 2$/m)
    } finally {
      await proxy.close()
      await origin.close()
    }
  })
})
