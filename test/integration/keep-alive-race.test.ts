/**
 * The keep-alive race: a backend that answers with keep-alive and then closes the
 * connection, so a request edgecache sends on that reused connection is lost before any
 * response byte. An idempotent request is replayed once on another connection; a POST, or a
 * body that streamed, is not (502), and nothing of it counts as a retry.
 */
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { after, describe, test } from 'node:test'
import { freePort, proxyFlags, runEdgecache } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly body: string
  /** It came on a connection that had already been answered: the origin closed it unanswered. */
  readonly lost: boolean
}

interface ClosingOrigin {
  readonly url: string
  readonly seen: SeenRequest[]
  count(method: string, url: string): number
  close(): Promise<void>
}

/**
 * A raw HTTP/1.1 origin that answers the first request of each connection with
 * `Connection: keep-alive` and closes the connection `closeAfterMs()` later. A request that
 * arrives on a connection already answered meets the close: the origin drops the
 * connection without a byte of answer, as a server closing an idle connection does when a
 * request crosses its FIN. Paths under /die are dropped even as a connection's first request.
 */
async function startClosingOrigin(closeAfterMs: () => number): Promise<ClosingOrigin> {
  const seen: SeenRequest[] = []
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buffered = Buffer.alloc(0)
    let answered = false
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data])
      const headEnd = buffered.indexOf('\r\n\r\n')
      if (headEnd === -1) return
      const head = buffered.subarray(0, headEnd).toString('latin1').split('\r\n')
      const [method = '', url = ''] = (head[0] ?? '').split(' ')
      const lengthLine = head.find((line) => line.toLowerCase().startsWith('content-length:'))
      const length = lengthLine === undefined ? 0 : Number(lengthLine.slice(15).trim())
      if (buffered.length < headEnd + 4 + length) return
      const body = buffered.subarray(headEnd + 4, headEnd + 4 + length).toString()
      buffered = buffered.subarray(headEnd + 4 + length)
      const lost = answered || url.startsWith('/die')
      seen.push({ method, url, body, lost })
      if (lost) {
        socket.destroy()
        return
      }
      answered = true
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n' +
          'Connection: keep-alive\r\nKeep-Alive: timeout=30\r\nContent-Length: 2\r\n\r\nok',
      )
      const timer = setTimeout(() => {
        timers.delete(timer)
        socket.destroy()
      }, closeAfterMs())
      timers.add(timer)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    count: (method, url) => seen.filter((r) => r.method === method && r.url === url).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer)
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** A counter's value on the admin listener's /metrics, 0 when absent. */
async function metric(adminUrl: string, series: string): Promise<number> {
  const text = (await send(`${adminUrl}/metrics`)).text
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

describe('the keep-alive race', () => {
  const origins: ClosingOrigin[] = []
  const proxies: TestProxy[] = []
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()))
    await Promise.all(origins.map((o) => o.close()))
    await closeClient()
  })

  /**
   * An origin that closes an answered connection only when the next request arrives on it
   * (its timer is a minute): every request on a reused connection meets the race.
   */
  const racingProxy = async (env: Record<string, string> = {}) => {
    const origin = await startClosingOrigin(() => 60_000)
    origins.push(origin)
    const proxy = await startProxy({ upstream: origin.url, env })
    proxies.push(proxy)
    // A new connection, answered; the next request reuses it.
    assert.equal((await send(`${proxy.url}/first`)).status, 200)
    return { origin, proxy }
  }

  test('40 sequential GETs over new client connections, default workers: all 200', async () => {
    const origin = await startClosingOrigin(() => 10 + Math.random() * 10)
    origins.push(origin)
    const port = await freePort()
    const adminPort = await freePort()
    const edgecache = runEdgecache([...proxyFlags(origin.url, port, adminPort), '--log-level', 'warn'])
    try {
      const get = (path: string) =>
        send(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } })
      await waitFor(async () => (await get('/up').catch(() => undefined))?.status === 200, 20_000)
      const statuses: number[] = []
      for (let i = 0; i < 40; i++) statuses.push((await get(`/race/${i}`)).status)
      assert.deepEqual(statuses, Array(40).fill(200), edgecache.err())
      // Each GET answered once; any lost on the way was sent again, never more than twice.
      for (let i = 0; i < 40; i++) {
        assert.ok(origin.count('GET', `/race/${i}`) <= 2, `/race/${i} reached the origin at most twice`)
      }
    } finally {
      edgecache.child.kill('SIGTERM')
      await edgecache.exited
    }
  })

  test('a GET lost with a reused connection is replayed once, and counted as a replay, not a retry', async () => {
    const { origin, proxy } = await racingProxy()
    const reply = await send(`${proxy.url}/again`)
    assert.equal(reply.status, 200)
    assert.equal(reply.text, 'ok')
    assert.deepEqual(
      origin.seen.filter((r) => r.url === '/again').map((r) => r.lost),
      [true, false],
      'lost on the reused connection, then answered on a new one',
    )
    assert.equal(await metric(proxy.adminUrl, 'edgecache_upstream_replays_total{upstream="default"}'), 1)
    assert.equal(
      await metric(proxy.adminUrl, 'edgecache_upstream_retries_total{upstream="default",result="retried"}'),
      0,
    )
    assert.equal(
      await metric(proxy.adminUrl, 'edgecache_upstream_errors_total{upstream="default",kind="reset"}'),
      0,
    )
  })

  test('a POST in the same race is not replayed: 502, and the origin saw it once', async () => {
    const { origin, proxy } = await racingProxy()
    const reply = await send(`${proxy.url}/form`, { method: 'POST', body: 'a=1' })
    assert.equal(reply.status, 502)
    assert.equal(origin.count('POST', '/form'), 1)
    assert.deepEqual(
      origin.seen.find((r) => r.url === '/form'),
      {
        method: 'POST',
        url: '/form',
        body: 'a=1',
        lost: true,
      },
    )
    assert.equal(await metric(proxy.adminUrl, 'edgecache_upstream_replays_total{upstream="default"}'), 0)
  })

  test('a PUT whose body was read whole is replayed with its body', async () => {
    const { origin, proxy } = await racingProxy()
    const reply = await send(`${proxy.url}/doc`, { method: 'PUT', body: 'v=2' })
    assert.equal(reply.status, 200)
    assert.deepEqual(
      origin.seen.filter((r) => r.url === '/doc').map((r) => [r.method, r.body, r.lost]),
      [
        ['PUT', 'v=2', true],
        ['PUT', 'v=2', false],
      ],
    )
  })

  test('a PUT whose body streamed (over server.requestBuffering) is not replayed', async () => {
    const { origin, proxy } = await racingProxy({ EDGECACHE_SERVER__REQUEST_BUFFERING: '2' })
    const reply = await send(`${proxy.url}/big`, { method: 'PUT', body: 'v=22' })
    assert.equal(reply.status, 502)
    assert.equal(origin.count('PUT', '/big'), 1)
    assert.equal(await metric(proxy.adminUrl, 'edgecache_upstream_replays_total{upstream="default"}'), 0)
  })

  test('a GET lost on a new connection is not replayed: that is a failing server', async () => {
    const { origin, proxy } = await racingProxy()
    // The reused connection is lost first: its replay goes out on a new one, lost too.
    const reply = await send(`${proxy.url}/die`)
    assert.equal(reply.status, 502)
    assert.equal(origin.count('GET', '/die'), 2)
    // With no reused connection left, a new one is lost at once, and nothing replays it.
    const fresh = await send(`${proxy.url}/die/fresh`)
    assert.equal(fresh.status, 502)
    assert.equal(origin.count('GET', '/die/fresh'), 1)
    assert.equal(await metric(proxy.adminUrl, 'edgecache_upstream_replays_total{upstream="default"}'), 1)
  })
})
