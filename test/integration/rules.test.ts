/**
 * Request rules through the proxy with a real origin: a deny answers its status and the
 * origin never sees the request (nor does the store), allow ends the rules, log and tag
 * leave their marks, conditions on query, headers, client and body size, a check module,
 * and bad rules named in the route file's problems.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { validateRouteFile } from '../../src/router/route-file.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const dir = mkdtempSync(join(tmpdir(), 'edgecache-rules-'))
writeFileSync(
  join(dir, 'bot-check.ts'),
  `export function check(request: { headers: Record<string, string | string[] | undefined> }): boolean {
  return String(request.headers['user-agent'] ?? '').includes('badbot')
}
`,
)
const routes = join(dir, 'routes.yaml')
writeFileSync(
  routes,
  `rules:
  - { name: office, match: { pathPrefix: /admin, client: [192.0.2.0/24] }, action: allow }
  - { name: no-admin, match: { pathPrefix: /admin }, action: deny, status: 403 }
  - { name: debug-query, match: { query: { debug: "1" } }, action: deny, status: 400 }
  - { name: big-upload, match: { methods: [POST], bodyLarger: 1KiB }, action: deny, status: 413 }
  - { name: bots, match: {}, check: ./bot-check.ts, action: deny, status: 403 }
  - { name: curl, match: { headers: { user-agent: "^curl/" } }, action: tag, tag: scripted }
  - { name: watch, match: { pathPrefix: /watched }, action: log }
routes:
  - name: api
    match: { pathPrefix: /api/ }
    rules:
      - { name: no-delete, match: { methods: [DELETE] }, action: deny, status: 405 }
`,
)

describe('request rules', () => {
  let origin: Origin
  let proxy: TestProxy
  before(async () => {
    origin = await startOrigin()
    proxy = await startProxy({ upstream: origin.url, env: { EDGECACHE_ROUTES: routes } })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('a deny rule answers 403 and the origin is never reached, nor anything stored', async () => {
    const reply = await send(`${proxy.url}/admin/users`)
    assert.equal(reply.status, 403)
    assert.match(reply.text, /refused by rule no-admin/)
    assert.equal(origin.count('/admin/users'), 0)
    assert.equal((await send(`${proxy.url}/admin/users`)).status, 403)
    assert.equal(origin.count('/admin/users'), 0)
    assert.equal(proxy.app.store.stats().entries, 0)
    const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
    assert.match(metrics, /edgecache_rule_matches_total\{rule="no-admin",action="deny"\} 2/)
  })

  test('an allow rule for a trusted network ends the rules before the deny', async () => {
    // The peer is 127.0.0.1, not in 192.0.2.0/24: the allow rule does not match it.
    assert.equal((await send(`${proxy.url}/admin`)).status, 403)
    const office = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_ROUTES: routes, EDGECACHE_SERVER__TRUSTED_PROXIES: '127.0.0.1' },
    })
    try {
      const reply = await send(`${office.url}/admin/report`, { headers: { 'x-forwarded-for': '192.0.2.7' } })
      assert.equal(reply.status, 200)
      assert.equal(origin.count('/admin/report'), 1)
    } finally {
      await office.close()
    }
  })

  test('query, body size, a check module and a route’s own rules each deny what they name', async () => {
    assert.equal((await send(`${proxy.url}/page?debug=1`)).status, 400)
    assert.equal((await send(`${proxy.url}/page?debug=0`)).status, 200)
    const big = await send(`${proxy.url}/upload`, { method: 'POST', body: Buffer.alloc(2048) })
    assert.equal(big.status, 413)
    assert.equal(origin.count('/upload'), 0)
    assert.equal((await send(`${proxy.url}/upload`, { method: 'POST', body: 'small' })).status, 200)
    assert.equal((await send(`${proxy.url}/x`, { headers: { 'user-agent': 'badbot/1.0' } })).status, 403)
    assert.equal(origin.count('/x'), 0)
    assert.equal((await send(`${proxy.url}/api/item`, { method: 'DELETE' })).status, 405)
    assert.equal((await send(`${proxy.url}/other`, { method: 'DELETE' })).status, 200)
  })

  test('tag and log rules let the request through and mark its lines', async () => {
    assert.equal((await send(`${proxy.url}/tagged`, { headers: { 'user-agent': 'curl/8.0' } })).status, 200)
    assert.equal((await send(`${proxy.url}/watched`)).status, 200)
    await waitFor(() =>
      proxy.logs.some((line) => line.msg === 'request' && (line as { path?: string }).path === '/watched'),
    )
    const access = proxy.logs.find(
      (line) => line.msg === 'request' && (line as { path?: string }).path === '/tagged',
    )
    assert.deepEqual((access as { rules?: string[] }).rules, ['scripted'])
    assert.ok(proxy.logs.some((line) => line.msg === 'request rule matched' && line.rule === 'watch'))
  })

  test('bad rules are named in the route file’s problems', () => {
    const result = validateRouteFile({
      rules: [
        { name: 'a', match: { pathRegex: '(a+)+$' }, action: 'deny' },
        { name: 'b', match: { client: ['10.0.0.0/33'] }, action: 'block' },
        { name: 'c', action: 'allow', status: 403, check: './missing.ts' },
      ],
    })
    assert.equal(result.ok, false)
    const problems = result.ok ? [] : result.problems
    assert.ok(problems.some((p) => p.startsWith('rules[0] (a).match.pathRegex:')))
    assert.ok(problems.includes('rules[1] (b).action: expected deny, allow, log or tag, got "block"'))
    assert.ok(problems.some((p) => p.startsWith('rules[1] (b).match.client[0]:')))
    assert.ok(problems.includes('rules[2] (c).status: is used only with action: deny'))
    assert.ok(problems.some((p) => p.startsWith('rules[2] (c).check: cannot load')))
  })
})
