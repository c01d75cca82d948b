/**
 * The status page in a real browser: Debian's Chromium (headless) driven by playwright-core,
 * against a real proxy and origin on loopback. The page loads under its CSP, its numbers move
 * after traffic, hostile text stays text, and a purge from its form reaches the cache.
 * Every wait polls a condition in the page with a bound; none sleeps.
 *
 * CI installs chromium (.ci/run). Without it this file fails, on purpose: a browser test
 * that skips itself would pass while testing nothing.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { type Browser, chromium, type Page } from 'playwright-core'
import { events, publish, type RequestFinished } from '../../src/observability/events.ts'
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

describe('status page in Chromium', { timeout: 120_000 }, () => {
  let origin: Origin
  let proxy: TestProxy
  let browser: Browser
  let page: Page
  const problems: string[] = []

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} not found: the browser test needs Debian's chromium ` +
          '(apt-get install -y --no-install-recommends chromium; .ci/run installs it)',
      )
    }
    origin = await startOrigin((req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'cache-control': 'max-age=600',
        'surrogate-key': `product-${(req.url ?? '').replace(/\D/g, '')}`,
      })
      res.end(`body of ${req.url}`)
    })
    proxy = await startProxy({ upstream: origin.url, env: { EDGECACHE_ADMIN_TOKEN: TOKEN } })
    browser = await chromium.launch({
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
    // A fresh context is a fresh, throwaway profile: nothing carries over between runs.
    const context = await browser.newContext()
    page = await context.newPage()
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('dialog', (dialog) => {
      problems.push(`dialog opened: ${dialog.message()}`)
      void dialog.dismiss()
    })
    page.on('console', (message) => {
      if (/content security policy|refused to/i.test(message.text()))
        problems.push(`console: ${message.text()}`)
    })
  })

  after(async () => {
    await browser?.close()
    await proxy?.close()
    await origin?.close()
    await closeClient()
  })

  /**
   * Waits until some element matching `selector` has text that equals `want`, includes it
   * (`has`), or reads as a number of at least `want`. Passed as a function, not a string: the
   * page's CSP forbids eval, which Playwright would need for a string predicate.
   */
  async function until(
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

  const text = (id: string) => page.locator(`#${id}`).textContent()

  test('loads under its CSP and shows this worker', async () => {
    const response = await page.goto(`${proxy.adminUrl}/status`)
    assert.equal(response?.status(), 200)
    assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'nonce-/)
    assert.equal(await page.title(), `edgecache status · pid ${process.pid}`)
    assert.equal(await text('pid'), String(process.pid))
    // The script ran (it fills the tables from the embedded snapshot) despite the strict CSP.
    await until('#stores td', 'equals', 'local')
    assert.match((await text('stores')) ?? '', /local\s*up/)
    assert.deepEqual(problems, [])
  })

  test('the request counter and route table change after traffic through the proxy', async () => {
    const before = Number(await text('requests-total'))
    for (let i = 0; i < 3; i++) await send(`${proxy.url}/counted`)
    await until('#requests-total', 'atLeast', before + 3)
    await until('#hit-ratio', 'has', '%')
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
    await until('#routes td', 'equals', evil)
    assert.equal(await page.locator('#routes img, #routes script').count(), 0)
    assert.deepEqual(problems, [])
  })

  test('a purge with a wrong token is refused and says why', async () => {
    await page.fill('#purge-token', 'not-the-admin-token-at-all')
    await page.selectOption('#purge-kind', 'tags')
    await page.fill('#purge-value', 'product-7')
    await page.click('#purge-submit')
    await until('#purge-result', 'equals', 'purge failed: invalid bearer token')
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
    await until('#purge-result', 'equals', 'purged 1 entry')
    await until('#purges td', 'equals', 'tags: product-7')
    assert.match((await text('purges')) ?? '', /tags: product-7\s*1\s*no/)

    const after = await send(`${proxy.url}/product/7`)
    assert.match(after.header('cache-status') ?? '', /fwd=uri-miss/)
    assert.equal(origin.count('/product/7'), fetched + 1)
  })

  test('the token is kept nowhere but its field', async () => {
    const stored = await page.evaluate(
      `JSON.stringify([localStorage.length, sessionStorage.length, document.cookie, document.body.innerText.includes(${JSON.stringify(TOKEN)})])`,
    )
    assert.equal(stored, JSON.stringify([0, 0, '', false]))
    assert.deepEqual(problems, [])
  })
})
