/**
 * WebSockets through the proxy, with the `ws` package on both ends: an echo over the
 * tunnel (in one process and with the default two workers), the backend's refusal relayed,
 * the request rules and rate limits before the tunnel, the limit on open tunnels, the idle
 * timeout, and `Upgrade: h2c`, which is answered as a plain request.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { closeClient, send, waitFor } from '../support/client.ts'
import type { Origin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { startTwoWorkers, type TwoWorkers } from '../support/workers.ts'

/** A backend that echoes every WebSocket message, refuses `/refused` with 403, and serves plain GETs. */
interface EchoBackend {
  readonly url: string
  /** The handshake requests it received, in order. */
  readonly upgrades: IncomingMessage[]
  /** Plain (non-upgrade) requests it received. */
  readonly plain: IncomingMessage[]
  close(): Promise<void>
}

async function startEchoBackend(): Promise<EchoBackend> {
  const upgrades: IncomingMessage[] = []
  const plain: IncomingMessage[] = []
  const server: Server = createServer((req, res) => {
    plain.push(req)
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
    res.end(`plain ${req.url}`)
  })
  const wss = new WebSocketServer({
    server,
    verifyClient: (info, callback) => {
      upgrades.push(info.req)
      if (info.req.url === '/refused') callback(false, 403, 'not for you')
      else callback(true)
    },
  })
  wss.on('connection', (ws) => {
    ws.on('message', (data, binary) => ws.send(data, { binary }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    upgrades,
    plain,
    async close() {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Opens a WebSocket to `url`; resolves once open, or with the status of the answer that refused it. */
function openSocket(url: string): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
    })
    ws.once('error', reject)
  })
}

async function open(url: string): Promise<WebSocket> {
  const opened = await openSocket(url)
  if (!('ws' in opened)) throw new Error(`expected a WebSocket, got ${opened.status} ${opened.body}`)
  return opened.ws
}

function echo(ws: WebSocket, message: string | Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(data as Buffer))
    ws.send(message)
  })
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(1006)
    else ws.once('close', (code) => resolve(code))
  })
}

function wsUrl(httpUrl: string, path: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}${path}`
}

function accessLines(proxy: TestProxy): Record<string, unknown>[] {
  return proxy.logs.filter((line) => line.component === 'access')
}

describe('WebSockets through the proxy', () => {
  let backend: EchoBackend
  let proxy: TestProxy
  before(async () => {
    backend = await startEchoBackend()
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-ws-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      `rules:
  - { name: no-admin, match: { pathPrefix: /admin }, action: deny, status: 403 }
routes:
  - name: chat
    match: { pathPrefix: /chat }
  - name: limited
    match: { pathPrefix: /limited }
    rateLimit: { rate: 1/m, burst: 1, key: client }
`,
    )
    proxy = await startProxy({ upstream: backend.url, env: { EDGECACHE_ROUTES: routes } })
  })
  after(async () => {
    await proxy.close()
    await backend.close()
    await closeClient()
  })

  test('a WebSocket echo works through the proxy, both ways, text and binary', async () => {
    const ws = await open(wsUrl(proxy.url, '/chat/room?x=1'))
    assert.equal((await echo(ws, 'hello')).toString(), 'hello')
    const big = Buffer.alloc(256 * 1024, 7)
    assert.deepEqual(await echo(ws, big), big)
    ws.close(1000, 'bye')
    assert.equal(await closed(ws), 1000)

    // The backend saw the handshake with the forwarding fields, from the proxy.
    const seen = backend.upgrades.at(-1)!
    assert.equal(seen.url, '/chat/room?x=1')
    assert.equal(seen.headers.upgrade, 'websocket')
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    assert.match(String(seen.headers.via), /1\.1 edgecache/)
    assert.equal(typeof seen.headers['sec-websocket-key'], 'string')

    // One access line, at the tunnel's end: 101, its route, the bytes both ways.
    await waitFor(() => accessLines(proxy).some((l) => l.path === '/chat/room' && l.tunnel === 'closed'))
    const line = accessLines(proxy).find((l) => l.path === '/chat/room')!
    assert.equal(line.status, 101)
    assert.equal(line.route, 'chat')
    assert.equal(line.cacheStatus, 'pass')
    assert.ok((line.bytesIn as number) > big.length, `bytesIn ${line.bytesIn}`)
    assert.ok((line.bytes as number) > big.length, `bytes ${line.bytes}`)

    const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
    assert.match(metrics, /edgecache_tunnels_total\{outcome="closed"\} 1\n/)
    assert.match(metrics, /edgecache_tunnels_open 0\n/)
  })

  test('an upgrade is never cached: each handshake reaches the backend', async () => {
    const before = backend.upgrades.length
    for (let i = 0; i < 2; i++) {
      const ws = await open(wsUrl(proxy.url, '/chat/again'))
      assert.equal((await echo(ws, `n${i}`)).toString(), `n${i}`)
      ws.close()
      await closed(ws)
    }
    assert.equal(backend.upgrades.length - before, 2)
  })

  test("the backend's answer other than 101 is relayed as it came", async () => {
    const refused = await openSocket(wsUrl(proxy.url, '/refused'))
    assert.ok(!('ws' in refused))
    assert.equal(refused.status, 403)
    await waitFor(() => accessLines(proxy).some((l) => l.path === '/refused'))
    const line = accessLines(proxy).find((l) => l.path === '/refused')!
    assert.equal(line.status, 403)
    assert.equal(line.upstreamStatus, 403)
    assert.equal(line.tunnel, 'backend_declined')
  })

  test('the request rules and rate limits answer before any tunnel', async () => {
    const before = backend.upgrades.length
    const denied = await openSocket(wsUrl(proxy.url, '/admin/socket'))
    assert.ok(!('ws' in denied))
    assert.equal(denied.status, 403)
    assert.match(denied.body, /refused by rule no-admin/)

    const first = await open(wsUrl(proxy.url, '/limited'))
    const second = await openSocket(wsUrl(proxy.url, '/limited'))
    assert.ok(!('ws' in second))
    assert.equal(second.status, 429)
    first.close()
    await closed(first)
    // Only the one allowed handshake reached the backend.
    assert.equal(backend.upgrades.length - before, 1)
    const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
    assert.match(metrics, /edgecache_tunnels_total\{outcome="refused"\} 2\n/)
  })

  test('Upgrade: h2c is answered as a plain HTTP/1.1 request', async () => {
    const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1')
    const answer = await new Promise<string>((resolve, reject) => {
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk.toString()
      })
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
      socket.write(
        'GET /plain HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade, HTTP2-Settings, close\r\n' +
          'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
      )
    })
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/)
    assert.match(answer, /\r\nplain \/plain\r\n/)
    assert.doesNotMatch(answer, /101 Switching/)
    const seen = backend.plain.at(-1)!
    assert.equal(seen.url, '/plain')
    assert.equal(seen.headers.upgrade, undefined)
  })
})

describe('limits of tunnels', () => {
  let backend: EchoBackend
  after(async () => {
    await backend?.close()
    await closeClient()
  })

  test('past server.upgrades.maxTunnels an Upgrade request gets 503; a closed tunnel frees its place', async () => {
    backend = await startEchoBackend()
    const proxy = await startProxy({
      upstream: backend.url,
      env: { EDGECACHE_SERVER__UPGRADES__MAX_TUNNELS: '1' },
    })
    try {
      const first = await open(wsUrl(proxy.url, '/one'))
      const second = await openSocket(wsUrl(proxy.url, '/two'))
      assert.ok(!('ws' in second))
      assert.equal(second.status, 503)
      assert.match(second.body, /no tunnel available: 1 tunnels open/)
      assert.match((await send(`${proxy.adminUrl}/metrics`)).text, /edgecache_tunnels_open 1\n/)
      first.close()
      await closed(first)
      // The place is free once the proxy has seen both connections close.
      await waitFor(async () =>
        /edgecache_tunnels_open 0\n/.test((await send(`${proxy.adminUrl}/metrics`)).text),
      )
      const third = await open(wsUrl(proxy.url, '/three'))
      assert.equal((await echo(third, 'again')).toString(), 'again')
      third.close()
      await closed(third)
      const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
      assert.match(metrics, /edgecache_tunnels_total\{outcome="over_limit"\} 1\n/)
      assert.match(metrics, /edgecache_tunnels_total\{outcome="closed"\} 2\n/)
    } finally {
      await proxy.close()
    }
  })

  test('a tunnel without traffic for server.upgrades.idleTimeout is cut', async () => {
    backend ??= await startEchoBackend()
    const proxy = await startProxy({
      upstream: backend.url,
      env: { EDGECACHE_SERVER__UPGRADES__IDLE_TIMEOUT: '300ms' },
    })
    try {
      const ws = await open(wsUrl(proxy.url, '/idle'))
      assert.equal((await echo(ws, 'ping')).toString(), 'ping')
      const lastTraffic = performance.now()
      // Cut without a closing handshake: the client sees an abnormal close.
      assert.equal(await closed(ws), 1006)
      const quiet = performance.now() - lastTraffic
      assert.ok(quiet >= 290, `cut after ${quiet.toFixed(0)} ms of silence, before the 300 ms timeout`)
      await waitFor(() => accessLines(proxy).some((l) => l.path === '/idle'))
      const line = accessLines(proxy).find((l) => l.path === '/idle')!
      assert.equal(line.status, 101)
      assert.equal(line.tunnel, 'idle_timeout')
      assert.ok((line.totalMs as number) >= 290, `totalMs ${line.totalMs}`)
      const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
      assert.match(metrics, /edgecache_tunnels_total\{outcome="idle_timeout"\} 1\n/)
      // The request's latency in metrics is its handshake, not the tunnel's life.
      const sum = /edgecache_request_duration_seconds_sum\{route="default",cache="pass"\} ([0-9.e-]+)/.exec(
        metrics,
      )
      assert.ok(sum !== null && Number(sum[1]) < 0.29, `duration sum ${sum?.[1]}`)
    } finally {
      await proxy.close()
    }
  })
})

describe('tunnels at shutdown', () => {
  test('an open tunnel is cut once server.shutdownTimeout has passed', async () => {
    const backend = await startEchoBackend()
    const proxy = await startProxy({
      upstream: backend.url,
      env: { EDGECACHE_SERVER__SHUTDOWN_TIMEOUT: '200ms' },
    })
    try {
      const ws = await open(wsUrl(proxy.url, '/long'))
      assert.equal((await echo(ws, 'before')).toString(), 'before')
      const closing = proxy.close()
      assert.equal(await closed(ws), 1006)
      await closing
      const line = accessLines(proxy).find((l) => l.path === '/long')
      assert.equal(line?.tunnel, 'shutdown')
    } finally {
      await proxy.close()
      await backend.close()
    }
  })
})

describe('WebSockets with the default two workers', () => {
  let backend: EchoBackend
  let workers: TwoWorkers | undefined
  after(async () => {
    workers?.child.kill('SIGTERM')
    await workers?.exited
    await backend?.close()
    await closeClient()
  })

  test('echoes on connections spread over both workers', async () => {
    backend = await startEchoBackend()
    // The helper's warm-up counts what the backend's plain side saw.
    const plainSide = {
      url: backend.url,
      count: (path: string) => backend.plain.filter((req) => req.url === path).length,
    } as Origin
    workers = await startTwoWorkers(plainSide)
    await workers.warm(plainSide, '/warm-ws')
    const before = backend.upgrades.length
    // A generated request id starts with its process's own prefix.
    const prefixes = () =>
      new Set(backend.upgrades.slice(before).map((req) => String(req.headers['x-request-id']).split('-')[0]))
    // The kernel gives each new connection to a worker by a hash of its addresses, so six can
    // all land on one (1 in 32): more are opened until both workers have tunnelled one.
    const sockets: WebSocket[] = []
    while (sockets.length < 6 || (prefixes().size < 2 && sockets.length < 40)) {
      sockets.push(await open(`ws://127.0.0.1:${workers.port}/w/${sockets.length}`))
    }
    const replies = await Promise.all(sockets.map((ws, i) => echo(ws, `message ${i}`)))
    assert.deepEqual(
      replies.map((r) => r.toString()),
      sockets.map((_, i) => `message ${i}`),
    )
    for (const ws of sockets) ws.close()
    await Promise.all(sockets.map(closed))
    // Both workers tunnelled.
    assert.equal(prefixes().size, 2, `request id prefixes ${[...prefixes()].join(', ')}`)
    const closedLine = `edgecache_tunnels_total{outcome="closed"} ${sockets.length}\n`
    await waitFor(async () =>
      (await send(`http://127.0.0.1:${workers!.adminPort}/metrics`)).text.includes(closedLine),
    )
  })
})
