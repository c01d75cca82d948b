/**
 * Request bodies read before going upstream (`server.requestBuffering`), over real sockets:
 * slow uploads hold no origin connection while other misses are answered; a body up to the
 * limit reaches the origin whole with Content-Length, a longer one streams; 0 turns it off;
 * `Expect: 100-continue` still works; a client that stalls gets 408, one past the body
 * limit 413, and the origin sees nothing of either; and the limit changes on reload.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import { after, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

interface Arrival {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  /** Undefined until the whole body has arrived. */
  body: Buffer | undefined
}

/**
 * An origin that records each request as its header section arrives (so a test sees a
 * body streaming in) and again when its body has ended; it answers 200 with the body's
 * length, cacheable, so every URL is a miss once.
 */
async function startRecordingOrigin() {
  const arrivals: Arrival[] = []
  const server = createServer((req, res) => {
    const arrival: Arrival = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: undefined,
    }
    arrivals.push(arrival)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      arrival.body = Buffer.concat(chunks)
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
      res.end(`got ${arrival.body.length}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    arrival: (method: string, url: string) => arrivals.find((a) => a.method === method && a.url === url),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A client connection that writes a request by hand and collects the answer until the proxy closes. */
function rawRequest(url: string, head: string) {
  const { hostname, port } = new URL(url)
  const socket: Socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  let received = ''
  const onData: ((text: string) => void)[] = []
  socket.on('data', (data: Buffer) => {
    received += data.toString('latin1')
    for (const listener of onData) listener(received)
  })
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)))
  socket.write(head)
  return {
    socket,
    write: (data: string | Buffer) => socket.write(data),
    /** Resolves once what has been received matches `pattern`. */
    receives: (pattern: RegExp) =>
      new Promise<void>((resolve) => {
        if (pattern.test(received)) return resolve()
        onData.push((text) => {
          if (pattern.test(text)) resolve()
        })
      }),
    /** The final status of what the proxy sent before closing (after any 100). */
    status: async () => {
      const text = await closed
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))
      return statuses.at(-1)
    },
  }
}

const postHead = (path: string, fields: string) =>
  `POST ${path} HTTP/1.1\r\nHost: buffering.test\r\nConnection: close\r\n${fields}\r\n`

/** One chunk of a chunked body. */
const chunk = (data: string) => `${data.length.toString(16)}\r\n${data}\r\n`

describe('request buffering', () => {
  const origins: { close(): Promise<void> }[] = []
  const proxies: TestProxy[] = []
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()))
    await Promise.all(origins.map((o) => o.close()))
    await closeClient()
  })
  const setUp = async (env: Record<string, string> = {}) => {
    const origin = await startRecordingOrigin()
    origins.push(origin)
    const proxy = await startProxy({ upstream: origin.url, env })
    proxies.push(proxy)
    return { origin, proxy }
  }

  test('150 slow uploads hold no origin connection: misses for other URLs are answered meanwhile', async () => {
    // Four origin connections: without buffering, four uploads would hold all of them.
    const { origin, proxy } = await setUp({ EDGECACHE_UPSTREAM__CONNECTIONS: '4' })
    const length = 100_000
    const uploads = Array.from({ length: 150 }, (_, i) =>
      rawRequest(proxy.url, postHead(`/upload/${i}`, `Content-Length: ${length}\r\n`)),
    )
    let sent = 0
    const trickle = setInterval(() => {
      for (const upload of uploads) upload.write('x')
      sent++
    }, 50)
    try {
      // Every upload has reached the proxy and is in flight there.
      await waitFor(async () => {
        const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
        const inFlight = Number(/^edgecache_requests_in_flight (\d+)/m.exec(metrics)?.[1])
        return inFlight >= 150 && sent > 0
      }, 20_000)
      for (let i = 0; i < 10; i++) {
        const reply = await send(`${proxy.url}/page/${i}`, { signal: AbortSignal.timeout(10_000) })
        assert.equal(reply.status, 200)
        assert.equal(reply.text, 'got 0')
      }
      assert.equal(
        origin.arrivals.filter((a) => a.method === 'POST').length,
        0,
        'no upload reached the origin while its body trickled in',
      )
    } finally {
      clearInterval(trickle)
    }
    // The rest of each body at once: every upload reaches the origin whole, over four connections.
    const written = sent
    for (const upload of uploads) upload.write(Buffer.alloc(length - written, 'y'))
    const statuses = await Promise.all(uploads.map((u) => u.status()))
    assert.deepEqual(statuses, Array(150).fill(200))
    const posts = origin.arrivals.filter((a) => a.method === 'POST')
    assert.equal(posts.length, 150)
    for (const post of posts) {
      assert.equal(post.body?.length, length)
      assert.equal(post.headers['content-length'], String(length))
    }
  })

  test('a chunked body of exactly the limit goes upstream with Content-Length; a longer one streams chunked', async () => {
    const { origin, proxy } = await setUp({ EDGECACHE_SERVER__REQUEST_BUFFERING: '1000' })
    const at = rawRequest(proxy.url, postHead('/at', 'Transfer-Encoding: chunked\r\n'))
    at.write(chunk('a'.repeat(600)) + chunk('a'.repeat(400)) + chunk(''))
    assert.equal(await at.status(), 200)
    const whole = origin.arrival('POST', '/at')
    assert.equal(whole?.headers['content-length'], '1000')
    assert.equal(whole?.headers['transfer-encoding'], undefined)
    assert.equal(whole?.body?.length, 1000)

    // The last chunk held back until the origin has the request: it streams, chunked.
    const above = rawRequest(proxy.url, postHead('/above', 'Transfer-Encoding: chunked\r\n'))
    above.write(chunk('b'.repeat(600)) + chunk('b'.repeat(401)))
    await waitFor(() => origin.arrival('POST', '/above') !== undefined)
    const streamed = origin.arrival('POST', '/above')
    assert.equal(streamed?.headers['content-length'], undefined)
    assert.equal(streamed?.headers['transfer-encoding'], 'chunked')
    above.write(chunk('b') + chunk(''))
    assert.equal(await above.status(), 200)
    assert.equal(streamed?.body?.toString(), 'b'.repeat(1002))
  })

  test('a body over the limit reaches the origin before the client has sent all of it', async () => {
    const { origin, proxy } = await setUp({ EDGECACHE_SERVER__REQUEST_BUFFERING: '1000' })
    const upload = rawRequest(proxy.url, postHead('/long', 'Content-Length: 2000\r\n'))
    upload.write('c'.repeat(1001))
    // The origin has the request while 999 bytes are still held back by the client.
    await waitFor(() => origin.arrival('POST', '/long') !== undefined)
    assert.equal(origin.arrival('POST', '/long')?.body, undefined)
    upload.write('c'.repeat(999))
    assert.equal(await upload.status(), 200)
    assert.equal(origin.arrival('POST', '/long')?.body?.toString(), 'c'.repeat(2000))
  })

  test('0 turns buffering off: every body streams', async () => {
    const { origin, proxy } = await setUp({ EDGECACHE_SERVER__REQUEST_BUFFERING: '0' })
    const small = rawRequest(proxy.url, postHead('/small', 'Transfer-Encoding: chunked\r\n'))
    small.write(chunk('tiny') + chunk(''))
    assert.equal(await small.status(), 200)
    assert.equal(origin.arrival('POST', '/small')?.headers['transfer-encoding'], 'chunked')
    assert.equal(origin.arrival('POST', '/small')?.body?.toString(), 'tiny')

    const held = rawRequest(proxy.url, postHead('/held', 'Content-Length: 10\r\n'))
    held.write('12345')
    await waitFor(() => origin.arrival('POST', '/held') !== undefined)
    held.write('67890')
    assert.equal(await held.status(), 200)
    assert.equal(origin.arrival('POST', '/held')?.body?.toString(), '1234567890')
  })

  test('Expect: 100-continue: 100 is sent when the body is wanted, and the body arrives whole', async () => {
    const { origin, proxy } = await setUp()
    const upload = rawRequest(proxy.url, postHead('/expect', 'Content-Length: 5\r\nExpect: 100-continue\r\n'))
    await upload.receives(/^HTTP\/1\.1 100 Continue\r\n\r\n/)
    assert.equal(origin.arrival('POST', '/expect'), undefined, 'nothing upstream before the body')
    upload.write('hello')
    assert.equal(await upload.status(), 200)
    const arrival = origin.arrival('POST', '/expect')
    assert.equal(arrival?.body?.toString(), 'hello')
    assert.equal(arrival?.headers.expect, undefined)
    assert.equal(arrival?.headers['content-length'], '5')
  })

  test('a client that stalls mid-body gets 408, and the origin sees nothing', async () => {
    const { origin, proxy } = await setUp({
      EDGECACHE_SERVER__REQUEST_TIMEOUT: '1s',
      EDGECACHE_SERVER__HEADERS_TIMEOUT: '1s',
    })
    const upload = rawRequest(proxy.url, postHead('/stall', 'Content-Length: 100\r\n'))
    upload.write('only part of it')
    assert.equal(await upload.status(), 408)
    assert.equal(origin.arrivals.length, 0)
    // The listener goes on serving, and the origin's connections are all free.
    assert.equal((await send(`${proxy.url}/after-stall`)).status, 200)
  })

  test('a chunked body past server.maxBodyBytes while being read gets 413, and the origin sees nothing', async () => {
    const { origin, proxy } = await setUp({ EDGECACHE_SERVER__MAX_BODY_BYTES: '100' })
    const upload = rawRequest(proxy.url, postHead('/huge', 'Transfer-Encoding: chunked\r\n'))
    upload.write(chunk('d'.repeat(101)))
    assert.equal(await upload.status(), 413)
    assert.equal(origin.arrivals.length, 0)
  })

  test('server.requestBuffering changes on reload, with no restart', async () => {
    const env: Record<string, string> = { EDGECACHE_SERVER__REQUEST_BUFFERING: '0' }
    const { origin, proxy } = await setUp(env)
    const before = rawRequest(proxy.url, postHead('/before', 'Transfer-Encoding: chunked\r\n'))
    before.write(chunk('data') + chunk(''))
    assert.equal(await before.status(), 200)
    assert.equal(origin.arrival('POST', '/before')?.headers['transfer-encoding'], 'chunked')

    env.EDGECACHE_SERVER__REQUEST_BUFFERING = '1MiB'
    const report = await proxy.app.reload('config', 'admin')
    assert.equal(report.reloaded, true)
    assert.deepEqual(report.restartNeeded, [])
    const afterReload = rawRequest(proxy.url, postHead('/after', 'Transfer-Encoding: chunked\r\n'))
    afterReload.write(chunk('data') + chunk(''))
    assert.equal(await afterReload.status(), 200)
    assert.equal(origin.arrival('POST', '/after')?.headers['content-length'], '4')
  })
})
