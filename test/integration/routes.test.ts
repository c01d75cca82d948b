/**
 * Routes through the proxy: each policy field changes what the cache does, route tags feed
 * purges, and the route file reloads by admin call, signal and file change, keeping the old
 * routes when the new file is broken.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const TOKEN = 'routes-test-token-000000'

const ROUTES = `
routes:
  - name: product
    match: { path: /p/:id }
    cache: { ttl: 10m, query: { ignore: [utm_*], sort: true } }
    tags: [product, "product:{id}"]
  - name: api
    match: { pathPrefix: /api/ }
    cache: { bypass: true }
  - name: cookies
    match: { pathPrefix: /c/ }
    cache: { ttl: 1m, ignoreSetCookie: true }
  - name: clamped
    match: { pathRegex: '^/clamp/' }
    cache: { maxTtl: 30s }
  - name: overridden
    match: { pathPrefix: /over/ }
    cache: { ttlOverride: 2m }
  - name: floored
    match: { pathPrefix: /floor/ }
    cache: { minTtl: 90s }
  - name: stale
    match: { pathPrefix: /swr/ }
    cache: { ttl: 1s, staleWhileRevalidate: 1m }
  - name: keyed
    match: { pathPrefix: /keyed/ }
    cache: { ttl: 1m, key: { headers: [x-tenant], cookies: [lang] } }
default: { name: other }
`

describe('routes', () => {
  let origin: Origin
  let proxy: TestProxy
  let file: string

  /** Writes the route file the way an editor saves: a new file renamed over the old. */
  function writeRoutes(text: string) {
    const temp = `${file}.tmp`
    writeFileSync(temp, text)
    renameSync(temp, file)
  }

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-routes-'))
    file = join(dir, 'routes.yaml')
    writeFileSync(file, ROUTES)
    origin = await startOrigin((req, res) => {
      const headers: Record<string, string> = { 'content-type': 'text/plain' }
      if (req.url?.startsWith('/c/')) headers['set-cookie'] = 'session=secret'
      if (req.url?.startsWith('/clamp/')) headers['cache-control'] = 'max-age=3600'
      if (req.url?.startsWith('/over/') || req.url?.startsWith('/floor/'))
        headers['cache-control'] = 'max-age=5'
      if (req.url?.startsWith('/api/') || req.url?.startsWith('/other'))
        headers['cache-control'] = 'max-age=60'
      res.writeHead(200, headers)
      res.end(`origin ${req.url} ${req.headers['x-tenant'] ?? ''} ${req.headers.cookie ?? ''}`)
    })
    proxy = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_ROUTES: file, EDGECACHE_ADMIN_TOKEN: TOKEN },
    })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  const cacheStatus = async (path: string) => (await send(`${proxy.url}${path}`)).header('cache-status') ?? ''

  function reload() {
    return send(`${proxy.adminUrl}/routes/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  }

  test('ttl gives a response without freshness information a lifetime', async () => {
    // ttl counts down from 600 s; the origin's Date has whole seconds, so up to 2 s go to age
    assert.match(await cacheStatus('/p/1'), /fwd=uri-miss; fwd-status=200; ttl=(59[89]|600); stored/)
    assert.match(await cacheStatus('/p/1'), /; hit; ttl=(59[89]|600)/)
    // without the route the same response has no lifetime and nothing to revalidate it by
    assert.match(await cacheStatus('/nothing'), /fwd=uri-miss; fwd-status=200; detail=no-lifetime/)
  })

  test('query rules make two URLs one cache entry', async () => {
    await send(`${proxy.url}/p/2?b=2&a=1&utm_source=mail`)
    assert.match(await cacheStatus('/p/2?a=1&b=2'), /; hit/)
    assert.equal(origin.count('/p/2?a=1&b=2'), 0)
  })

  test('bypass sends every request upstream', async () => {
    assert.match(await cacheStatus('/api/x'), /fwd=bypass/)
    assert.match(await cacheStatus('/api/x'), /fwd=bypass/)
    assert.equal(origin.count('/api/x'), 2)
  })

  test('ignoreSetCookie stores the response without its cookie', async () => {
    const first = await send(`${proxy.url}/c/1`)
    assert.equal(first.header('set-cookie'), 'session=secret')
    const hit = await send(`${proxy.url}/c/1`)
    assert.match(hit.header('cache-status') ?? '', /; hit/)
    assert.equal(hit.header('set-cookie'), undefined)
  })

  test('maxTtl clamps the origin lifetime', async () => {
    assert.match(await cacheStatus('/clamp/a'), /ttl=(2[89]|30); stored/)
  })

  test('ttlOverride replaces the origin lifetime and minTtl lifts it', async () => {
    assert.match(await cacheStatus('/over/a'), /ttl=1(19|20); stored/)
    assert.match(await cacheStatus('/floor/a'), /ttl=(8[89]|90); stored/)
  })

  test('a stale window from the route lets a stale entry be served while it refreshes', async () => {
    assert.match(await cacheStatus('/swr/a'), /stored/)
    // the response set no stale-while-revalidate; once its 1 s lifetime is over, the route's
    // 1 m window answers from cache at once (polled, with a generous bound)
    await waitFor(async () => /detail=stale-while-revalidate/.test(await cacheStatus('/swr/a')))
  })

  test('header and cookie key rules keep one entry per tenant and language', async () => {
    const as = (tenant: string, lang: string) =>
      send(`${proxy.url}/keyed/x`, {
        headers: { 'x-tenant': tenant, cookie: `lang=${lang}; session=s${Math.random()}` },
      })
    assert.match((await as('a', 'en')).header('cache-status') ?? '', /stored/)
    assert.match((await as('b', 'en')).header('cache-status') ?? '', /stored/)
    assert.match((await as('a', 'fr')).header('cache-status') ?? '', /stored/)
    const hit = await as('a', 'en')
    assert.match(hit.header('cache-status') ?? '', /; hit/)
    assert.match(hit.text, / a lang=en/)
  })

  test('route tags with parameters feed the purge index', async () => {
    await send(`${proxy.url}/p/42`)
    await send(`${proxy.url}/p/43`)
    const purge = await send(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['product:42'] }),
    })
    assert.equal(JSON.parse(purge.text).purged, 1)
    assert.match(await cacheStatus('/p/42'), /uri-miss/)
    assert.match(await cacheStatus('/p/43'), /; hit/)
  })

  test('a URL purge finds the entry stored under the normalised query', async () => {
    await send(`${proxy.url}/p/9?utm_source=x&b=1`)
    assert.match(await cacheStatus('/p/9?b=1'), /; hit/)
    const purge = await send(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ urls: [`${proxy.url}/p/9?b=1&utm_campaign=y`] }),
    })
    assert.equal(JSON.parse(purge.text).purged, 1)
    assert.match(await cacheStatus('/p/9?b=1'), /uri-miss/)
  })

  test('the access log names the route', async () => {
    await send(`${proxy.url}/p/7`)
    await waitFor(() => proxy.logs.some((l) => l.msg === 'request' && l.path === '/p/7'))
    const line = proxy.logs.find((l) => l.msg === 'request' && l.path === '/p/7')
    assert.equal(line?.route, 'product')
  })

  test('POST /routes/reload swaps the routes; a broken file keeps the old ones', async () => {
    assert.equal((await send(`${proxy.adminUrl}/routes/reload`, { method: 'POST' })).status, 401)
    writeRoutes(ROUTES.replace('bypass: true', 'bypass: false, ttl: 5m'))
    const ok = await reload()
    assert.equal(ok.status, 200)
    assert.deepEqual(JSON.parse(ok.text), {
      reloaded: true,
      workers: 1,
      of: 1,
      restartNeeded: [],
      problems: [],
      routes: 8,
    })
    assert.match(await cacheStatus('/api/y'), /stored/)

    writeRoutes('routes:\n  - name: broken\n    match: { pathRegex: "(a+)+$" }\n')
    const rejected = await reload()
    assert.equal(rejected.status, 422)
    assert.match(rejected.text, /broken/)
    assert.match(await cacheStatus('/api/y'), /; hit/)
  })

  test('SIGHUP reloads the routes', async () => {
    writeRoutes(ROUTES)
    const result = await proxy.app.reload('config', 'signal')
    assert.equal(result.reloaded, true)
    assert.match(await cacheStatus('/api/z'), /fwd=bypass/)
  })

  test('a changed file is picked up without a call', async () => {
    writeRoutes(ROUTES.replace('bypass: true', 'bypass: false, ttl: 5m'))
    await waitFor(async () => /stored|; hit/.test(await cacheStatus('/api/w')))
    writeRoutes(ROUTES)
    await waitFor(async () => /fwd=bypass/.test(await cacheStatus('/api/w')))
  })
})
