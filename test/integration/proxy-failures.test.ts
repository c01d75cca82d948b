/**
 * Collapsing, large bodies and failures through the proxy: what reaches the origin, what
 * the client sees, and that nothing partial is ever stored.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { createFakeClock } from '../support/clock.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { startTwoWorkers } from '../support/workers.ts'

describe('request collapsing', () => {
  let origin: Origin
  let proxy: TestProxy
  let release: () => void = () => {}

  before(async () => {
    origin = await startOrigin()
    proxy = await startProxy({ upstream: origin.url })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('50 concurrent misses for one key make one origin request', async () => {
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    origin.handle(async (_req, res) => {
      await gate
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end('collapsed body')
    })
    const replies = Promise.all(Array.from({ length: 50 }, () => send(`${proxy.url}/hot`)))
    // every request has reached the proxy: one went upstream, 49 wait for it
    await waitFor(() => origin.count('/hot') === 1 && proxy.app.collapsing().waiting === 49)
    release()
    const all = await replies
    assert.equal(origin.count('/hot'), 1)
    for (const r of all) assert.equal(r.text, 'collapsed body')
    const collapsed = all.filter((r) => /collapsed/.test(r.header('cache-status') ?? ''))
    assert.equal(collapsed.length, 49)
  })

  test('when the response is not storable, the waiting requests go upstream themselves', async () => {
    let calls = 0
    let releaseFirst: () => void = () => {}
    const firstGate = new Promise<void>((resolve) => {
      releaseFirst = resolve
    })
    origin.handle(async (_req, res) => {
      calls++
      if (calls === 1) await firstGate
      res.writeHead(200, { 'cache-control': 'no-store' })
      res.end(`private ${calls}`)
    })
    const replies = Promise.all(Array.from({ length: 5 }, () => send(`${proxy.url}/uncacheable`)))
    await waitFor(() => origin.count('/uncacheable') === 1)
    releaseFirst()
    const all = await replies
    assert.equal(origin.count('/uncacheable'), 5)
    for (const r of all) assert.equal(r.status, 200)
  })

  test('a fill the origin answers with 503 answers every waiter with 503 at once, one origin request', async () => {
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    origin.handle(async (_req, res) => {
      await gate
      res.writeHead(503, { 'content-type': 'text/plain' })
      res.end('down for the leader only')
    })
    const replies = Promise.all(Array.from({ length: 5 }, () => send(`${proxy.url}/failing`)))
    await waitFor(() => origin.count('/failing') === 1 && proxy.app.collapsing().waiting === 4)
    release()
    const all = await replies
    assert.equal(origin.count('/failing'), 1)
    for (const r of all) assert.equal(r.status, 503)
    const collapsed = all.filter((r) => /collapsed/.test(r.header('cache-status') ?? ''))
    assert.equal(collapsed.length, 4)
    for (const r of collapsed) {
      assert.match(r.header('cache-status') ?? '', /fwd-status=503/)
      assert.doesNotMatch(r.text, /leader only/, "another request's body is not handed out")
    }
    // Not remembered as uncacheable: the next burst is collapsed again.
    assert.equal(await isCollapsedAgain('/failing'), true)
  })

  test('when the leading client goes away before the origin answers, one waiter takes the fill over', async () => {
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    origin.handle(async (_req, res) => {
      await gate
      res.writeHead(200, { 'cache-control': 'max-age=60' })
      res.end('taken over')
    })
    const leaving = new AbortController()
    const leader = send(`${proxy.url}/takeover`, { signal: leaving.signal }).catch(() => undefined)
    await waitFor(() => origin.count('/takeover') === 1)
    const replies = Promise.all(Array.from({ length: 3 }, () => send(`${proxy.url}/takeover`)))
    await waitFor(() => proxy.app.collapsing().waiting === 3)
    leaving.abort()
    await leader
    // One waiter goes to the origin in the leader's place; the other two wait for it.
    await waitFor(() => origin.count('/takeover') === 2 && proxy.app.collapsing().waiting === 2)
    release()
    for (const r of await replies) assert.equal(r.text, 'taken over')
    assert.equal(origin.count('/takeover'), 2)
  })

  test('waiters stream a collapsed fill as it arrives, before the origin has finished', async () => {
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const first = Buffer.alloc(200_000, 'a')
    const rest = Buffer.alloc(200_000, 'b')
    origin.handle(async (_req, res) => {
      res.writeHead(200, {
        'cache-control': 'max-age=60',
        // Already 30 s old: the collapsed answers say so too (RFC 9111 §5.1).
        age: '30',
        'content-length': String(first.length + rest.length),
      })
      res.write(first)
      await gate
      res.end(rest)
    })
    // Each waiter resolves once its first body bytes arrived, and keeps reading to the end.
    const waiter = () =>
      new Promise<{
        firstBytes: Promise<void>
        done: Promise<{ status: string; length: number; age: number }>
      }>((resolve, reject) => {
        httpRequest(`${proxy.url}/streamed`, (res) => {
          let length = 0
          const firstBytes = new Promise<void>((got) => res.once('data', () => got()))
          const done = new Promise<{ status: string; length: number; age: number }>((end) => {
            res.on('data', (chunk: Buffer) => {
              length += chunk.length
            })
            res.on('end', () =>
              end({ status: String(res.headers['cache-status']), length, age: Number(res.headers.age) }),
            )
          })
          resolve({ firstBytes, done })
        })
          .on('error', reject)
          .end()
      })
    const leader = await waiter()
    await leader.firstBytes
    const others = await Promise.all([waiter(), waiter()])
    // The origin is still held: these bytes can only come from the fill in progress.
    await Promise.all(others.map((o) => o.firstBytes))
    release()
    const all = await Promise.all([leader, ...others].map((w) => w.done))
    for (const r of all) assert.equal(r.length, first.length + rest.length)
    assert.equal(all.filter((r) => /collapsed/.test(r.status)).length, 2)
    for (const r of all) assert.ok(r.age >= 30, `age ${r.age} on ${r.status}`)
    assert.equal(origin.count('/streamed'), 1)
  })

  /** Whether a second burst of requests for `path` is collapsed into one origin request. */
  async function isCollapsedAgain(path: string): Promise<boolean> {
    const before = origin.count(path)
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    origin.handle(async (_req, res) => {
      await gate
      res.writeHead(503).end()
    })
    const replies = Promise.all(Array.from({ length: 3 }, () => send(`${proxy.url}${path}`)))
    await waitFor(() => origin.count(path) > before && proxy.app.collapsing().waiting >= 1)
    const waiting = proxy.app.collapsing().waiting
    release()
    await replies
    return waiting === 2 && origin.count(path) === before + 1
  }
})

describe('hit-for-miss', () => {
  test('once a URL answered uncacheable, concurrent requests for it go upstream together', async () => {
    let release: () => void = () => {}
    let gate: Promise<void> | undefined
    const origin = await startOrigin(async (_req, res) => {
      if (gate !== undefined) await gate
      res.writeHead(200, { 'cache-control': 'no-store' })
      res.end('fresh every time')
    })
    const proxy = await startProxy({ upstream: origin.url })
    try {
      await send(`${proxy.url}/nostore`)
      gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const replies = Promise.all(Array.from({ length: 20 }, () => send(`${proxy.url}/nostore`)))
      // all 20 reach the origin while it holds them: none waits behind another
      await waitFor(() => origin.count('/nostore') === 21)
      assert.equal(proxy.app.collapsing().waiting, 0)
      release()
      for (const r of await replies) assert.equal(r.status, 200)
    } finally {
      release()
      await proxy.close()
      await origin.close()
    }
  })
})

describe('failures and large bodies', () => {
  let origin: Origin
  let proxy: TestProxy

  before(async () => {
    origin = await startOrigin()
    proxy = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_UPSTREAM__HEADERS_TIMEOUT: '300ms' },
    })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('a backend that does not answer in time gives 504 with the request id and nothing internal', async () => {
    origin.handle(() => {
      // never answers; the proxy's headers timeout is the bound under test
    })
    const reply = await send(`${proxy.url}/slow`, { headers: { 'x-request-id': 'slow-1' } })
    assert.equal(reply.status, 504)
    assert.match(reply.text, /slow-1/)
    assert.doesNotMatch(reply.text, /127\.0\.0\.1|undici|Error|at /)
    assert.equal(reply.header('x-request-id'), 'slow-1')
  })

  test('a backend that resets the connection gives 502', async () => {
    origin.handle((req) => {
      req.socket.destroy()
    })
    const reply = await send(`${proxy.url}/reset`)
    assert.equal(reply.status, 502)
    assert.match(reply.text, /request id/)
    assert.equal(reply.header('cache-status'), 'edgecache; fwd=miss; detail=upstream-error')
  })

  test('a backend that is down gives 502', async () => {
    const down = await startOrigin()
    const url = down.url
    await down.close()
    const lonely = await startProxy({ upstream: url })
    try {
      const reply = await send(`${lonely.url}/anything`)
      assert.equal(reply.status, 502)
      assert.match(reply.header('x-request-id') ?? '', /./)
    } finally {
      await lonely.close()
    }
  })

  test('a 20 MiB body streams through unstored and memory stays bounded', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7)
    origin.handle((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(20 * chunk.length) })
      let sent = 0
      const pump = () => {
        while (sent < 20) {
          sent++
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
    const reply = await send(`${proxy.url}/big`)
    assert.equal(reply.body.length, 20 * chunk.length)
    assert.match(reply.header('cache-status') ?? '', /detail=too-large/)
    assert.equal(proxy.app.store.stats().entries, 0)
    await send(`${proxy.url}/big`)
    assert.equal(origin.count('/big'), 2)
  })

  test('a body cut off by the backend is not stored and the client sees the truncation', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '1000' })
      res.write('only part')
      setImmediate(() => res.socket?.destroy())
    })
    await assert.rejects(send(`${proxy.url}/cut`))
    const before = origin.count('/cut')
    await assert.rejects(send(`${proxy.url}/cut`))
    assert.equal(origin.count('/cut'), before + 1)
  })

  test('a client that aborts mid-response leaves nothing stored and nothing open', async () => {
    let finished: () => void = () => {}
    const originClosed = new Promise<void>((resolve) => {
      finished = resolve
    })
    origin.handle((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(1024 * 1024) })
      res.write(Buffer.alloc(64 * 1024, 1))
      res.on('close', () => finished())
    })
    const { port } = new URL(proxy.url)
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/abort' }, (res) => {
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      })
      req.on('error', () => {})
      req.once('error', reject)
      req.end()
    })
    await originClosed
    const entries = proxy.app.store.stats().entries
    assert.equal(entries, 0)
  })
})

describe('a collapsed fill that times out, with the default workers', () => {
  test('the origin sees at most 2 requests and every waiter answers within one timeout and a margin', async () => {
    const origin = await startOrigin((req, res) => {
      // /never never answers: the headers timeout is what every client must get, once
      if (req.url !== '/never') res.writeHead(200, { 'cache-control': 'max-age=60' }).end('ok')
    })
    const workers = await startTwoWorkers(origin, { EDGECACHE_UPSTREAM__HEADERS_TIMEOUT: '3s' })
    try {
      await workers.warm(origin, '/warm-up')
      const started = performance.now()
      const replies = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const reply = await workers.get('/never')
          return { status: reply.status, ms: performance.now() - started }
        }),
      )
      for (const r of replies) assert.equal(r.status, 504)
      assert.ok(origin.count('/never') <= 2, `the origin saw ${origin.count('/never')} requests`)
      // Waiters used to go upstream one after another once the first timed out: 2 timeouts.
      const slowest = Math.max(...replies.map((r) => r.ms))
      assert.ok(slowest < 5_500, `the slowest answer took ${Math.round(slowest)} ms`)
    } finally {
      workers.child.kill('SIGTERM')
      await workers.exited
      await origin.close()
      await closeClient()
    }
  })
})

describe('revalidation collapsing', () => {
  test('RFC 9111 §4.3: concurrent requests for one stale entry send one conditional request', async () => {
    const clock = createFakeClock()
    let release: () => void = () => {}
    let gate: Promise<void> | undefined
    const origin = await startOrigin(async (req, res) => {
      if (gate !== undefined) await gate
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { 'cache-control': 'max-age=10', etag: '"v1"' }).end()
        return
      }
      res.writeHead(200, { 'cache-control': 'max-age=10', etag: '"v1"' }).end('version 1')
    })
    const proxy = await startProxy({ upstream: origin.url, clock })
    try {
      await send(`${proxy.url}/stale`)
      clock.advance(20_000)
      gate = new Promise<void>((resolve) => {
        release = resolve
      })
      const replies = Promise.all(Array.from({ length: 5 }, () => send(`${proxy.url}/stale`)))
      await waitFor(() => origin.count('/stale') === 2 && proxy.app.collapsing().waiting === 4)
      release()
      const all = await replies
      assert.equal(origin.count('/stale'), 2, 'one full GET, then one conditional request')
      for (const r of all) assert.equal(r.text, 'version 1')
      assert.equal(all.filter((r) => /collapsed/.test(r.header('cache-status') ?? '')).length, 4)
    } finally {
      release()
      await proxy.close()
      await origin.close()
      await closeClient()
    }
  })
})
