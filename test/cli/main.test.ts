/**
 * The edgecache command as a user runs it: a real process from src/main.ts, real ports.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { freePort, runEdgecache } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'
import { startTwoWorkers } from '../support/workers.ts'

const run = runEdgecache

describe('edgecache command', () => {
  const running: ChildProcess[] = []
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
  })

  test('without an upstream it says in one line what to pass', async () => {
    const r = run([])
    assert.equal(await r.exited, 2)
    assert.equal(r.err().trim().split('\n').length, 1)
    assert.match(r.err(), /--upstream URL/)
  })

  test('check-config names every bad field and exits non-zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-'))
    const file = join(dir, 'bad.yaml')
    writeFileSync(
      file,
      'storage:\n  driver: memory\n  memory: { maxBytes: lots }\nserver: { maxHeadrBytes: 1 }\n',
    )
    const r = run(['check-config', file])
    assert.equal(await r.exited, 1)
    assert.match(r.err(), /storage\.memory\.maxBytes: expected a size like "256MiB", got "lots"/)
    assert.match(r.err(), /server\.maxHeadrBytes: unknown field/)

    const good = join(dir, 'good.json')
    writeFileSync(good, JSON.stringify({ upstream: { url: 'http://127.0.0.1:1' } }))
    const ok = run(['check-config', good])
    assert.equal(await ok.exited, 0)
  })

  test('check-config and serve refuse the same upstream URL alike, in one line that hides its password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-'))
    const file = join(dir, 'creds.yaml')
    writeFileSync(file, 'upstream: { url: "http://user:s3cret@127.0.0.1:9/base" }\n')
    const check = run(['check-config', file])
    const serve = run(['--config', file, '--workers', '2'])
    for (const r of [check, serve]) {
      assert.equal(await r.exited, 1)
      const lines = r.err().trim().split('\n')
      assert.equal(lines.length, 1, r.err())
      assert.match(lines[0] ?? '', /upstream\.url: expected a URL without user or password/)
      assert.doesNotMatch(r.err(), /s3cret/)
    }
  })

  test('check-config also checks the route file the config names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(routes, 'routes:\n  - name: slow\n    match: { pathRegex: "(a+)+$" }\n')
    const config = join(dir, 'config.yaml')
    writeFileSync(config, `routes: ${routes}\n`)
    const r = run(['check-config', config])
    assert.equal(await r.exited, 1)
    assert.match(r.err(), /slow/)
  })

  test('routes test prints the matching route and its cache key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      'routes:\n  - name: product\n    match: { path: /p/:id }\n    tags: ["product:{id}"]\n',
    )
    const r = run(['routes', 'test', '--routes', routes, 'https://shop.example/p/42?x=1'])
    assert.equal(await r.exited, 0, r.err())
    assert.match(r.out(), /product/)
    assert.match(r.out(), /product:42/)
    assert.match(r.out(), /https:\/\/shop\.example\/p\/42\?x=1/)
  })

  test('serves as a Kubernetes pod does: service-link variables pass in silence, a mistyped one warns once', async () => {
    const origin = await startOrigin()
    const r = run(
      [
        '--upstream',
        origin.url,
        '--listen',
        `127.0.0.1:${await freePort()}`,
        '--admin-listen',
        '127.0.0.1:0',
      ],
      {
        EDGECACHE_SERVICE_HOST: '10.96.0.12',
        EDGECACHE_PORT: 'tcp://10.96.0.12:8000',
        EDGECACHE_PORT_8000_TCP_ADDR: '10.96.0.12',
        EDGECACHE_LOG__LEVL: 'debug',
      },
    )
    running.push(r.child)
    try {
      // Two workers, two lines: by then the primary has long finished loading config.
      await waitFor(() => r.out().split('edgecache listening').length === 3, 20_000)
      assert.equal(
        r.err(),
        'edgecache: warning: EDGECACHE_LOG__LEVL: unknown variable, ignored; did you mean EDGECACHE_LOG__LEVEL?\n',
      )
      r.child.kill('SIGTERM')
      assert.equal(await r.exited, 0)
    } finally {
      await origin.close()
    }
  })

  test('SIGHUP reloads the route file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(routes, 'routes:\n  - name: first\n    match: { pathPrefix: / }\n')
    const origin = await startOrigin()
    const port = await freePort()
    const r = run([
      '--upstream',
      origin.url,
      '--listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      '127.0.0.1:0',
      '--workers',
      '1',
      '--routes',
      routes,
    ])
    running.push(r.child)
    try {
      await waitFor(() => r.out().includes('edgecache listening'), 20_000)
      r.child.kill('SIGHUP')
      await waitFor(() =>
        /"trigger":"signal".*"routes reloaded"|"routes reloaded".*"trigger":"signal"/.test(r.out()),
      )
      r.child.kill('SIGTERM')
      assert.equal(await r.exited, 0)
    } finally {
      await origin.close()
    }
  })

  test('demo starts each time with an empty cache of its own: a miss, then a hit', async () => {
    // Same port and the same configured directory both times: what the first run stored
    // would answer the second run's first request, were it kept.
    const port = await freePort()
    const env = { EDGECACHE_STORAGE__LOCAL__PATH: mkdtempSync(join(tmpdir(), 'edgecache-demo-test-')) }
    for (let round = 1; round <= 2; round++) {
      const r = run(
        ['demo', '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${await freePort()}`],
        env,
      )
      running.push(r.child)
      await waitFor(() => r.out().includes('Ctrl-C stops the demo'), 20_000)
      const get = () => send(`http://127.0.0.1:${port}/cacheable`, { headers: { connection: 'close' } })
      assert.match(String((await get()).headers['cache-status']), /fwd=uri-miss/, `round ${round}`)
      assert.match(String((await get()).headers['cache-status']), /; hit/)
      if (round === 1) {
        // The printed status page and token work as printed: the token purges.
        const printed =
          /status page: (http:\/\/127\.0\.0\.1:\d+)\/status \(admin token for its purge form: (\S+)\)/.exec(
            r.out(),
          )
        assert.ok(printed, r.out())
        const [, admin, token] = printed
        const purge = await send(`${admin}/invalidate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{"all":true}',
        })
        assert.equal(purge.status, 200)
        assert.match(String((await get()).headers['cache-status']), /fwd=uri-miss/, 'purged')
      }
      await closeClient()
      r.child.kill('SIGTERM')
      assert.equal(await r.exited, 0)
    }
  })

  test('an unknown flag is a usage error naming the flag', async () => {
    const r = run(['--upstrem', 'http://x'])
    assert.equal(await r.exited, 2)
    assert.match(r.err(), /--upstrem/)
  })

  test('serves with two workers sharing one cache: a hit on any worker, a purge counting each entry once, and stops cleanly on SIGTERM', async () => {
    const origin = await startOrigin()
    const token = 'cluster-test-token-0001'
    const r = await startTwoWorkers(origin, { EDGECACHE_ADMIN_TOKEN: token })
    const { port, adminPort } = r
    running.push(r.child)
    try {
      // One store for both workers: after one miss, every new connection, whichever worker
      // takes it, is a hit, and the origin has seen /w once.
      await r.warm(origin, '/w')
      for (let i = 0; i < 6; i++) {
        const res = await r.get('/w')
        assert.match(String(res.headers['cache-status']), /; hit/, `request ${i + 2} on a new connection`)
      }
      assert.equal(origin.count('/w'), 1)
      const purge = await send(`http://127.0.0.1:${adminPort}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify({ urls: [`http://127.0.0.1:${port}/w`] }),
      })
      assert.equal(purge.status, 200)
      assert.equal(JSON.parse(purge.text).purged, 1, 'one entry, counted once')
      assert.match(String((await r.get('/w')).headers['cache-status']), /fwd=uri-miss/)
      await closeClient()
      r.child.kill('SIGTERM')
      assert.equal(await r.exited, 0)
    } finally {
      await origin.close()
    }
  })
})
