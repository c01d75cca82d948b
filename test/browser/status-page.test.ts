/**
 * The status page in a real browser: Debian's Chromium (headless) driven by playwright-core,
 * against a real proxy and origin on loopback. The page loads under its CSP, its numbers move
 * after traffic, hostile text stays text, and a purge from its form reaches the cache. A
 * second proxy on a fake clock gives the charts an hour the test controls: their inline SVG
 * is checked point by point against /status.json, with the store's fill and evictions, the
 * source of each kind of invalidation, UTC times, and the layout on a phone-sized screen.
 * A third proxy has a pool with a live, a dead and a backup server for the servers table.
 * Every wait polls a condition in the page with a bound; none sleeps.
 *
 * CI installs chromium (.ci/run). Without it this file fails, on purpose: a browser test
 * that skips itself would pass while testing nothing.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import type { StatusSnapshot } from '../../src/admin/status-snapshot.ts'
import { parseArgs } from '../../src/cli/args.ts'
import { runPurge } from '../../src/cli/purge.ts'
import { events, publish, type RequestFinished } from '../../src/observability/events.ts'
import { freePort } from '../support/cli.ts'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const CHROMIUM = '/usr/bin/chromium'
const TOKEN = 'status-page-admin-token-0123'
/** Bound on every wait for the page; the page polls every 1.5 s. */
const WAIT_MS = 20_000

/** The little of the DOM the page conditions read. */
interface PageDocument {
  querySelectorAll(selector: string): ArrayLike<{ readonly textContent: string | null }>
}

/** Debian's Chromium, headless, or a clear failure when it is not installed. */
function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: the browser test needs Debian's chromium ` +
        '(apt-get install -y --no-install-recommends chromium; .ci/run installs it)',
    )
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** A page that records page errors, dialogs and CSP refusals into `problems`. */
async function watchedPage(context: BrowserContext, problems: string[]): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('dialog', (dialog) => {
    problems.push(`dialog opened: ${dialog.message()}`)
    void dialog.dismiss()
  })
  page.on('console', (message) => {
    if (/content security policy|refused to/i.test(message.text()))
      problems.push(`console: ${message.text()}`)
  })
  return page
}

/**
 * Waits until some element matching `selector` has text that equals `want`, includes it
 * (`has`), or reads as a number of at least `want`. Passed as a function, not a string: the
 * page's CSP forbids eval, which Playwright would need for a string predicate.
 */
async function until(
  page: Page,
  selector: string,
  kind: 'equals' | 'has' | 'atLeast',
  want: string | number,
): Promise<void> {
  await page.waitForFunction(
    ([sel, how, value]) => {
      // The project's tsconfig has no DOM lib; this runs in the page, where document exists.
      const doc = (globalThis as unknown as { document: PageDocument }).document
      return Array.from(doc.querySelectorAll(sel), (node) => node.textContent ?? '').some((found) =>
        how === 'equals'
          ? found === value
          : how === 'has'
            ? found.includes(String(value))
            : Number(found) >= Number(value),
      )
    },
    [selector, kind, want] as const,
    { timeout: WAIT_MS, polling: 50 },
  )
}

/** The page's own reading of something, as JSON (evaluated through the DevTools protocol, not eval). */
async function read<T>(page: Page, expression: string): Promise<T> {
  return JSON.parse((await page.evaluate(`JSON.stringify(${expression})`)) as string) as T
}

describe('status page in Chromium', { timeout: 120_000 }, () => {
  let origin: Origin
  let proxy: TestProxy
  let browser: Browser
  let page: Page
  const problems: string[] = []

  before(async () => {
    origin = await startOrigin((req, res) => {
      const code = req.url === '/missing' ? 404 : req.url === '/broken' ? 500 : 200
      res.writeHead(code, {
        'content-type': 'text/plain',
        'cache-control': 'max-age=600',
        'surrogate-key': `product-${(req.url ?? '').replace(/\D/g, '')}`,
      })
      res.end(`body of ${req.url}`)
    })
    proxy = await startProxy({ upstream: origin.url, env: { EDGECACHE_ADMIN_TOKEN: TOKEN } })
    browser = await launch()
    // A fresh context is a fresh, throwaway profile: nothing carries over between runs.
    page = await watchedPage(await browser.newContext(), problems)
  })

  after(async () => {
    await browser?.close()
    await proxy?.close()
    await origin?.close()
    await closeClient()
  })

  const text = (id: string) => page.locator(`#${id}`).textContent()

  test('loads under its CSP and shows this worker', async () => {
    const response = await page.goto(`${proxy.adminUrl}/status`)
    assert.equal(response?.status(), 200)
    assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'nonce-/)
    assert.equal(await page.title(), `edgecache status · pid ${process.pid}`)
    assert.equal(await text('pid'), String(process.pid))
    // The script ran (it fills the tables from the embedded snapshot) despite the strict CSP.
    await until(page, '#stores td', 'equals', 'local')
    assert.match((await text('stores')) ?? '', /local\s*up/)
    assert.deepEqual(problems, [])
  })

  test('the request counter and route table change after traffic through the proxy', async () => {
    const before = Number(await text('requests-total'))
    for (let i = 0; i < 3; i++) await send(`${proxy.url}/counted`)
    await until(page, '#requests-total', 'atLeast', before + 3)
    await until(page, '#hit-ratio', 'has', '%')
    assert.match((await text('routes')) ?? '', /default/)
    assert.match((await text('upstreams')) ?? '', /default\s*up/)
  })

  test('hostile text from the data is shown as text, never as markup', async () => {
    const evil = '<img src=x onerror=alert(1)><script>alert(2)</script>'
    publish<RequestFinished>(events.requestFinished, {
      route: evil,
      method: 'GET',
      status: 200,
      cache: 'hit',
      collapsed: false,
      bytes: 1,
      totalMs: 1,
    })
    await until(page, '#routes td', 'equals', evil)
    assert.equal(await page.locator('#routes img, #routes script').count(), 0)
    assert.deepEqual(problems, [])
  })

  test('a purge with a wrong token is refused and says why', async () => {
    await page.fill('#purge-token', 'not-the-admin-token-at-all')
    await page.selectOption('#purge-kind', 'tags')
    await page.fill('#purge-value', 'product-7')
    await page.click('#purge-submit')
    await until(page, '#purge-result', 'equals', 'purge failed: invalid bearer token')
  })

  test('a purge by tag from the form empties the entry: the next request is a miss', async () => {
    // The store commits once the whole body is in, which may be just after the answer is sent.
    await waitFor(async () =>
      /; hit/.test((await send(`${proxy.url}/product/7`)).header('cache-status') ?? ''),
    )
    const fetched = origin.count('/product/7')

    await page.fill('#purge-token', TOKEN)
    await page.selectOption('#purge-kind', 'tags')
    await page.fill('#purge-value', 'product-7')
    await page.click('#purge-submit')
    await until(page, '#purge-result', 'equals', 'purged 1 entry')
    await until(page, '#purges td', 'equals', 'tags: product-7')
    assert.match((await text('purges')) ?? '', /tags: product-7\s*1\s*no/)

    const after = await send(`${proxy.url}/product/7`)
    assert.match(after.header('cache-status') ?? '', /fwd=uri-miss/)
    assert.equal(origin.count('/product/7'), fetched + 1)
  })

  test('shows version, Node.js version and uptime, and every time in UTC ISO form', async () => {
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
    const version = (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string
      }
    ).version
    assert.equal(await text('version'), version)
    // The proxy runs in this process, on this Node.js.
    assert.equal(await text('node'), process.version)
    assert.match((await text('uptime')) ?? '', /^\d+ (s|min \d+ s)$/)
    assert.match((await text('updated')) ?? '', iso)
    assert.match((await text('started')) ?? '', iso)
    const started = Date.parse((await text('started')) ?? '')
    assert.ok(Math.abs(started - Date.now()) < 10 * 60_000, 'the start is now-ish, read as UTC')
    // Every time in the tables: the purge made above and the upstream's last answer.
    const whens = await read<string[]>(
      page,
      "Array.from(document.querySelectorAll('#purges tr > td:first-child'), (n) => n.textContent)",
    )
    assert.ok(whens.length > 0)
    for (const when of whens) assert.match(when, iso)
    assert.match((await text('upstreams')) ?? '', /HTTP 200 at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/)
  })

  test('each route shows its 5xx and 4xx answers and the bytes sent', async () => {
    await send(`${proxy.url}/missing`)
    await send(`${proxy.url}/broken`)
    await send(`${proxy.url}/broken`)
    // Columns: route, requests, hit ratio, p99, 5xx, 4xx, bytes.
    await until(page, '#routes td:nth-child(5)', 'atLeast', 2)
    await until(page, '#routes td:nth-child(6)', 'atLeast', 1)
    assert.equal(await page.locator('#routes td.bad:nth-child(5)').count(), 1, '5xx are marked')
    const s = JSON.parse((await send(`${proxy.adminUrl}/status.json`)).text) as StatusSnapshot
    const route = s.routes.find((r) => r.name === 'default')
    assert.ok(route !== undefined && route.bytes > 0)
    assert.equal(route.errors5xx, 2)
    assert.equal(route.errors4xx, 1)
    assert.match(
      (await page.locator('#routes td:nth-child(7)').first().textContent()) ?? '',
      /^\d+(\.\d)? (B|KiB|MiB)$/,
    )
    assert.deepEqual(problems, [])
  })

  test('the token is kept nowhere but its field', async () => {
    const stored = await page.evaluate(
      `JSON.stringify([localStorage.length, sessionStorage.length, document.cookie, document.body.innerText.includes(${JSON.stringify(TOKEN)})])`,
    )
    assert.equal(stored, JSON.stringify([0, 0, '', false]))
    assert.deepEqual(problems, [])
  })
})

describe('status page charts, store, invalidation sources and phone layout in Chromium', {
  timeout: 120_000,
}, () => {
  /** 2026-12-03T22:00:05Z: five seconds into a 10 s interval, so each step below is one interval. */
  const start = Date.UTC(2026, 11, 3, 22, 0, 5)
  const clock = createFakeClock(start)
  let origin: Origin
  let proxy: TestProxy
  let browser: Browser
  let page: Page
  const problems: string[] = []
  /** Every URL the page asked for: nothing may come from anywhere but the admin listener. */
  const requested: string[] = []

  before(async () => {
    origin = await startOrigin((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('posted')
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600' })
      // Big enough that 40 of them overflow the 64 KiB store below.
      res.end(req.url?.startsWith('/big/') ? 'b'.repeat(4096) : `body of ${req.url}`)
    })
    proxy = await startProxy({
      upstream: origin.url,
      clock,
      env: {
        EDGECACHE_ADMIN_TOKEN: TOKEN,
        EDGECACHE_STORAGE__LOCAL__MAX_BYTES: '64KiB',
        EDGECACHE_STORAGE__LOCAL__MAX_OBJECT_BYTES: '16KiB',
        EDGECACHE_SERVER__PURGE_METHOD__ENABLED: 'true',
        EDGECACHE_SERVER__PURGE_METHOD__ALLOW: '127.0.0.1',
      },
    })
    // An hour's traffic in six intervals: interval i has i + 1 requests for one URL, the
    // first a miss and the rest hits; then one interval with none.
    for (let i = 0; i < 6; i++) {
      for (let n = 0; n <= i; n++) await send(`${proxy.url}/c/${i}`)
      clock.advance(10_000)
    }
    clock.advance(10_000)
    browser = await launch()
    page = await watchedPage(await browser.newContext(), problems)
    page.on('request', (request) => requested.push(request.url()))
  })

  after(async () => {
    await browser?.close()
    await proxy?.close()
    await origin?.close()
    await closeClient()
  })

  const status = async () => JSON.parse((await send(`${proxy.adminUrl}/status.json`)).text) as StatusSnapshot
  /** The points of a chart's series, in the SVG's own coordinates. */
  const points = (chart: string, series: 's1' | 's2') =>
    read<{ points: number; d: string; width: number; viewBox: string }>(
      page,
      `(function () {
        var svg = document.getElementById('${chart}');
        var path = svg.querySelector('path.${series}');
        return { points: Number(path.getAttribute('data-points')), d: path.getAttribute('d'),
          width: Math.round(svg.getBoundingClientRect().width), viewBox: svg.getAttribute('viewBox') };
      })()`,
    )
  const coordinates = (d: string): [number, number][] =>
    [...d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])])
  /** The charts' plot area: 150 high, 10 above and 22 below it (status-page-script.ts). */
  const yOf = (value: number, max: number) => 10 + (1 - value / max) * 118

  test('charts the last hour as inline SVG, each point where /status.json puts it', async () => {
    const response = await page.goto(`${proxy.adminUrl}/status`)
    assert.equal(response?.status(), 200)
    const s = await status()
    assert.deepEqual(
      s.history.samples.map((x) => [x.requests, x.hitRatio]),
      [
        [1, 0],
        [2, 1 / 2],
        [3, 2 / 3],
        [4, 3 / 4],
        [5, 4 / 5],
        [6, 5 / 6],
      ],
    )
    await until(page, '#history-range', 'has', 'one point per 10 s')
    assert.equal(
      await page.locator('#history-range').textContent(),
      '2026-12-03T21:01:20Z to 2026-12-03T22:01:20Z, one point per 10 s',
    )

    // Hit ratio: one point per interval with lookups, at its ratio of the 0–100 % axis.
    const hit = await points('chart-hit', 's1')
    assert.equal(hit.points, 6)
    const hitXY = coordinates(hit.d)
    assert.deepEqual(
      hitXY.map(([, y]) => y),
      s.history.samples.map((x) => Number(yOf(x.hitRatio ?? 0, 1).toFixed(1))),
    )
    // Drawn to the width it has: no scaled-down text.
    assert.equal(hit.viewBox, `0 0 ${hit.width} 150`)
    // Ten seconds apart on an hour-wide axis, the last at the current interval's left.
    const step = (hit.width - 52 - 8) / 359
    for (let i = 1; i < hitXY.length; i++) {
      assert.ok(Math.abs(hitXY[i]![0] - hitXY[i - 1]![0] - step) < 0.2, `x step ${i}`)
    }

    // Requests per second: every interval since the start, the two empty ones (the last and
    // the current) at zero. The first covers only the 5 s since the start: 1 request is 0.2/s.
    // The axis tops out at the next round number above the busiest interval (0.6/s).
    const rates = [...s.history.samples.map((x) => x.requestsPerSecond), 0, 0]
    assert.deepEqual(rates, [0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0, 0])
    const rps = await points('chart-rps', 's1')
    assert.equal(rps.points, 8)
    assert.deepEqual(
      coordinates(rps.d).map(([, y]) => y),
      rates.map((v) => Number(yOf(v, 1).toFixed(1))),
    )
    assert.equal(await page.locator('#chart-rps-now').textContent(), '0')

    // Latency: p50 and p99, one point each per interval.
    assert.equal((await points('chart-latency', 's1')).points, 6)
    assert.equal((await points('chart-latency', 's2')).points, 6)

    // Inline SVG made by the page's script: SVG elements, nothing fetched for them.
    assert.equal(
      await read<string>(page, "document.querySelector('#chart-rps path').namespaceURI"),
      'http://www.w3.org/2000/svg',
    )
    assert.ok(requested.length > 0)
    for (const url of requested) assert.ok(url.startsWith(`${proxy.adminUrl}/`), url)
    assert.deepEqual(problems, [])
  })

  test('times are the proxy clock’s, in UTC ISO form', async () => {
    await until(page, '#updated', 'equals', '2026-12-03T22:01:15Z')
    assert.equal(await page.locator('#started').textContent(), '2026-12-03T22:00:05Z')
    assert.equal(await page.locator('#uptime').textContent(), '1 min 10 s')
  })

  test('the store row shows its bound, fill, file size and the entries evicted to make room', async () => {
    for (let i = 0; i < 40; i++) await send(`${proxy.url}/big/${i}`)
    await waitFor(async () => ((await status()).stores[0]?.evictions ?? 0) > 0, WAIT_MS)
    const [store] = (await status()).stores
    assert.ok(store !== undefined && store.fill !== null && store.fileBytes !== null)
    assert.equal(store.maxBytes, 64 * 1024)
    assert.ok(store.fill > 0.5 && store.fill <= 1, `fill ${store.fill}`)
    // Columns: store, state, entries, bytes, capacity, fill, file, evicted (window), evicted in all, tags, errors.
    const cells = async () =>
      read<string[]>(page, "Array.from(document.querySelectorAll('#stores td'), (n) => n.textContent)")
    await waitFor(async () => (await cells())[7] === String(store.evictions), WAIT_MS)
    const row = await cells()
    assert.equal(row[0], 'local')
    assert.equal(row[4], '64.0 KiB')
    assert.equal(row[5], `${(store.fill * 100).toFixed(1)} %`)
    assert.match(row[6] ?? '', /^\d+(\.\d)? (KiB|MiB)$/)
    // The fake clock has not moved: every eviction is inside the window.
    assert.equal(row[8], String(store.evictionsTotal))
    assert.equal(store.evictions, store.evictionsTotal)
  })

  test('each invalidation names its source: admin API, CLI, PURGE method, or RFC 9111 §4.4', async () => {
    const adminCall = await send(`${proxy.adminUrl}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['from-admin'] }),
    })
    assert.equal(adminCall.status, 200)
    clock.advance(1_000)
    const cli = await runPurge(
      parseArgs(['purge', '--tag', 'from-cli', '--admin', proxy.adminUrl, '--token', TOKEN]),
      {},
      { write: () => true },
      { write: () => true },
    )
    assert.equal(cli, 0)
    clock.advance(1_000)
    assert.equal((await send(`${proxy.url}/c/1`, { method: 'PURGE' })).status, 200)
    clock.advance(1_000)
    assert.equal((await send(`${proxy.url}/form`, { method: 'POST', body: 'a=1' })).status, 200)

    const rows = async () =>
      read<string[][]>(
        page,
        "Array.from(document.querySelectorAll('#purges tr'), (tr) => Array.from(tr.children, (td) => td.textContent))",
      )
    await waitFor(async () => (await rows()).length === 4, WAIT_MS)
    assert.deepEqual(await rows(), [
      ['2026-12-03T22:01:18Z', 'unsafe method (RFC 9111 §4.4)', `urls: ${proxy.url}/form`, '0', 'no'],
      ['2026-12-03T22:01:17Z', 'PURGE method', `urls: ${proxy.url}/c/1`, '1', 'no'],
      ['2026-12-03T22:01:16Z', 'CLI', 'tags: from-cli', '0', 'no'],
      ['2026-12-03T22:01:15Z', 'admin API', 'tags: from-admin', '0', 'no'],
    ])
    assert.deepEqual(
      (await status()).purges.map((p) => p.source),
      ['unsafe-method', 'purge-method', 'cli', 'admin'],
    )
    assert.deepEqual(problems, [])
  })

  test('reads on a phone: the page never scrolls sideways, wide tables scroll in their own box', async () => {
    const phone = await watchedPage(
      await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }),
      problems,
    )
    await phone.goto(`${proxy.adminUrl}/status`)
    await until(phone, '#stores td', 'equals', 'local')
    const layout = await read<{
      page: number
      body: number
      viewport: number
      tables: { inScroll: boolean; overflowX: string; right: number }[]
      charts: number[]
      form: number
    }>(
      phone,
      `(function () {
        var right = function (node) { return node.getBoundingClientRect().right; };
        return {
          page: document.documentElement.scrollWidth,
          body: document.body.scrollWidth,
          viewport: window.innerWidth,
          tables: Array.from(document.querySelectorAll('table'), function (t) {
            var box = t.parentElement;
            return { inScroll: box.classList.contains('scroll'), overflowX: getComputedStyle(box).overflowX, right: right(box) };
          }),
          charts: Array.from(document.querySelectorAll('svg.plot'), right),
          form: right(document.getElementById('purge-form'))
        };
      })()`,
    )
    assert.equal(layout.viewport, 390)
    assert.ok(layout.page <= 390, `page is ${layout.page} px wide`)
    assert.ok(layout.body <= 390, `body is ${layout.body} px wide`)
    assert.equal(layout.tables.length, 5)
    for (const table of layout.tables) {
      assert.deepEqual([table.inScroll, table.overflowX], [true, 'auto'])
      assert.ok(table.right <= 390)
    }
    for (const chart of layout.charts) assert.ok(chart <= 390, `a chart reaches ${chart} px`)
    assert.ok(layout.form <= 390)

    // The stores table is wider than a phone: its box scrolls, the page does not.
    const scrolled = await read<{ box: number; wide: boolean; page: number }>(
      phone,
      `(function () {
        var box = document.getElementById('stores').closest('.scroll');
        box.scrollLeft = 80;
        return { box: box.scrollLeft, wide: box.scrollWidth > box.clientWidth, page: window.scrollX };
      })()`,
    )
    assert.deepEqual(scrolled, { box: 80, wide: true, page: 0 })
    await phone.close()
    assert.deepEqual(problems, [])
  })
})

describe('status page servers of each pool in Chromium', { timeout: 120_000 }, () => {
  let live: Origin
  let backup: Origin
  let proxy: TestProxy
  let browser: Browser
  let page: Page
  let routes: string
  const problems: string[] = []
  /** Requests for /app/slow wait here until the test lets them go. */
  let release: (() => void) | undefined
  let deadUrl: string

  before(async () => {
    live = await startOrigin(async (req, res) => {
      if (req.url === '/app/slow') await new Promise<void>((resolve) => (release = resolve))
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      res.end(`live ${req.url}`)
    })
    backup = await startOrigin()
    // A port nothing listens on: connections to it are refused.
    deadUrl = `http://127.0.0.1:${await freePort()}`
    routes = join(mkdtempSync(join(tmpdir(), 'edgecache-status-servers-')), 'routes.yaml')
    writeFileSync(routes, 'routes:\n  - { name: app, match: { pathPrefix: /app/ }, upstream: app }\n')
    proxy = await startProxy({
      upstream: live.url,
      config: {
        routes,
        upstreams: {
          app: {
            servers: [{ url: live.url, weight: 2 }, { url: deadUrl }, { url: backup.url, backup: true }],
            health: { interval: '0s' },
            passive: { failures: 1, ejectFor: '5m' },
          },
        },
      },
    })
    browser = await launch()
    page = await watchedPage(await browser.newContext(), problems)
  })

  after(async () => {
    release?.()
    await browser?.close()
    await proxy?.close()
    await live?.close()
    await backup?.close()
    await closeClient()
    if (routes !== undefined) rmSync(dirname(routes), { recursive: true, force: true })
  })

  /** The servers table as text, cell by cell. */
  const rows = () =>
    read<string[][]>(
      page,
      "Array.from(document.querySelectorAll('#servers tr'), (tr) => Array.from(tr.children, (td) => td.textContent))",
    )

  test('lists every server of every pool, each with its state, load and failures', async () => {
    await page.goto(`${proxy.adminUrl}/status`)
    await until(page, '#servers td', 'equals', `${backup.url} (backup)`)
    // Until a request fails, every server is up. Columns: pool, server, weight, state, in
    // flight, connections, requests, failures, ejections, last error.
    assert.deepEqual(
      (await rows()).map((r) => [r[0], r[1], r[2], r[3], r[7], r[8]]),
      [
        ['default', live.url, '1', 'up', '0', '0'],
        ['app', live.url, '2', 'up', '0', '0'],
        ['app', deadUrl, '1', 'up', '0', '0'],
        ['app', `${backup.url} (backup)`, '1', 'up', '0', '0'],
      ],
    )

    // Round robin reaches the dead server: refused, it is ejected, and the GET is retried.
    for (let i = 0; i < 4; i++) assert.equal((await send(`${proxy.url}/app/${i}`)).status, 200)
    // The page may have polled between two of those requests: wait for a snapshot after all.
    await waitFor(async () => {
      const [, first, dead] = await rows()
      return first?.[6] === '4' && dead?.[3] === 'ejected'
    }, WAIT_MS)
    const [, first, dead, spare] = await rows()
    assert.deepEqual([dead?.[3], dead?.[7], dead?.[8]], ['ejected', '1', '1'])
    assert.match(dead?.[9] ?? '', /^EC_ERR_UPSTREAM_CONNECT at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
    assert.equal(await page.locator('#servers td.bad').count(), 2, 'the state and the failures are marked')
    // The live server answered all 4 GETs, one of them after the dead server refused it.
    assert.deepEqual([first?.[3], first?.[6], first?.[7]], ['up', '4', '0'])
    assert.equal(spare?.[6], '0')
    const s = JSON.parse((await send(`${proxy.adminUrl}/status.json`)).text) as StatusSnapshot
    assert.deepEqual(
      s.servers.map((x) => [x.upstream, x.url, x.state, x.requests, x.failures, x.ejections]),
      [
        ['default', live.url, 'up', 0, 0, 0],
        ['app', live.url, 'up', 4, 0, 0],
        ['app', deadUrl, 'ejected', 1, 1, 1],
        ['app', backup.url, 'up', 0, 0, 0],
      ],
    )
    assert.deepEqual(problems, [])
  })

  test('a request on its way shows as in flight on its server, over an open connection', async () => {
    const slow = send(`${proxy.url}/app/slow`)
    await waitFor(() => release !== undefined, WAIT_MS)
    await waitFor(async () => {
      const [, first] = await rows()
      return first?.[4] === '1' && Number(first?.[5]) >= 1
    }, WAIT_MS)
    release?.()
    release = undefined
    assert.equal((await slow).status, 200)
    await waitFor(async () => (await rows())[1]?.[4] === '0', WAIT_MS)
    assert.deepEqual(problems, [])
  })
})
