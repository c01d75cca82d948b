/**
 * The PROXY protocol on the proxy listener (`server.proxyProtocol`), over raw loopback
 * connections: a v2 or v1 header makes its client the one in the access line,
 * X-Forwarded-For and the request rules; what follows the header is served as it came;
 * a header from an address not allowed, a broken one, or none from an address that must
 * send one closes the connection with a log line and a metric. In front of the TLS
 * listener the header comes before the handshake and names the client of HTTP/1.1 and
 * HTTP/2 requests alike.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type CertificateFiles, makeCertificates, opensslSkipReason } from '../support/certificates.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { request as h2Request, openSession } from '../support/h2.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'
import { v2, v2ForClient } from '../support/proxy-header.ts'

/** Opens a connection to the proxy listener of `proxy`. */
function dial(proxy: TestProxy): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Everything the server sends until it closes the connection. */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
    })
    socket.once('close', () => resolve(text))
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // A connection closed while bytes were unread may reach the client as a reset.
      if (err.code === 'ECONNRESET') resolve(text)
      else reject(err)
    })
  })
}

/** Writes `bytes` on a new connection and reads until the server closes it. */
async function exchange(proxy: TestProxy, ...bytes: (Buffer | string)[]): Promise<string> {
  const socket = await dial(proxy)
  const answer = readAll(socket)
  for (const chunk of bytes) socket.write(chunk)
  return answer
}

function get(path: string, close = true): string {
  return `GET ${path} HTTP/1.1\r\nHost: example.test\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
}

function accessLine(proxy: TestProxy, path: string): Record<string, unknown> | undefined {
  return proxy.logs.find((line) => line.component === 'access' && line.path === path)
}

function refusals(proxy: TestProxy): Record<string, unknown>[] {
  return proxy.logs.filter((line) => String(line.msg).endsWith(', connection closed'))
}

describe('PROXY protocol from an allowed load balancer', () => {
  let origin: Origin
  let proxy: TestProxy
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      res.end(`hello ${req.url}`)
    })
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-proxy-protocol-'))
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      'rules:\n  - { name: blocked-net, match: { client: [198.51.100.0/24] }, action: deny, status: 403 }\n',
    )
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_ROUTES: routes,
        EDGECACHE_SERVER__PROXY_PROTOCOL__ENABLED: 'true',
        EDGECACHE_SERVER__PROXY_PROTOCOL__ALLOW: '127.0.0.1',
      },
    })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('a v2 header sets the client of the access line and X-Forwarded-For, for every request of the connection', async () => {
    const answer = await exchange(
      proxy,
      Buffer.concat([v2ForClient('203.0.113.7', 51234), Buffer.from(get('/v2/a', false) + get('/v2/b'))]),
    )
    assert.equal(answer.match(/HTTP\/1\.1 200 OK/g)?.length, 2, answer)
    assert.match(answer, /hello \/v2\/a/)
    assert.match(answer, /hello \/v2\/b/)
    for (const path of ['/v2/a', '/v2/b']) {
      const seen = origin.requests.find((r) => r.url === path)!
      assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7')
      assert.equal(seen.headers['x-real-ip'], '203.0.113.7')
    }
    await waitFor(() => accessLine(proxy, '/v2/b') !== undefined)
    assert.equal(accessLine(proxy, '/v2/a')?.client, '203.0.113.7')
    assert.equal(accessLine(proxy, '/v2/b')?.client, '203.0.113.7')
  })

  test('a v1 header does the same, IPv6 included', async () => {
    const answer = await exchange(proxy, `PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n${get('/v1')}`)
    assert.match(answer, /^HTTP\/1\.1 200 OK/)
    assert.equal(origin.requests.find((r) => r.url === '/v1')?.headers['x-forwarded-for'], '2001:db8::7')
    await waitFor(() => accessLine(proxy, '/v1') !== undefined)
    assert.equal(accessLine(proxy, '/v1')?.client, '2001:db8::7')
  })

  test('a header that arrives in pieces is read whole before the request', async () => {
    const socket = await dial(proxy)
    const answer = readAll(socket)
    socket.write('PROXY TCP4 203.0.113.')
    // The listener has accepted it and read the first piece, which is no whole header yet.
    await waitFor(async () =>
      /edgecache_open_connections [1-9]/.test((await send(`${proxy.adminUrl}/metrics`)).text),
    )
    assert.equal(socket.destroyed, false)
    socket.write(`9 127.0.0.1 1000 80\r\n${get('/pieces')}`)
    assert.match(await answer, /^HTTP\/1\.1 200 OK/)
    assert.equal(origin.requests.find((r) => r.url === '/pieces')?.headers['x-forwarded-for'], '203.0.113.9')
  })

  test('the request rules see the client the header names', async () => {
    const denied = await exchange(
      proxy,
      Buffer.concat([v2ForClient('198.51.100.20', 1), Buffer.from(get('/ruled'))]),
    )
    assert.match(denied, /^HTTP\/1\.1 403 /)
    assert.match(denied, /refused by rule blocked-net/)
    const allowed = await exchange(
      proxy,
      Buffer.concat([v2ForClient('192.0.2.20', 1), Buffer.from(get('/ruled'))]),
    )
    assert.match(allowed, /^HTTP\/1\.1 200 OK/)
  })

  test('a v2 LOCAL header (a health check) keeps the connection’s own address', async () => {
    const answer = await exchange(
      proxy,
      Buffer.concat([v2(0x20, 0x00, Buffer.alloc(0)), Buffer.from(get('/local'))]),
    )
    assert.match(answer, /^HTTP\/1\.1 200 OK/)
    assert.equal(origin.requests.find((r) => r.url === '/local')?.headers['x-forwarded-for'], '127.0.0.1')
  })

  test('a broken header, or none, from an allowed address closes the connection unanswered', async () => {
    const before = origin.requests.length
    assert.equal(await exchange(proxy, `PROXY TCP4 evil 127.0.0.1 1 80\r\n${get('/broken')}`), '')
    assert.equal(await exchange(proxy, get('/no-header')), '')
    assert.equal(origin.requests.length, before)
    await waitFor(() => refusals(proxy).length >= 2)
    const [malformed, missing] = refusals(proxy)
    assert.equal(malformed?.msg, 'malformed proxy protocol header, connection closed')
    assert.equal(malformed?.reason, 'malformed')
    assert.equal(malformed?.detail, 'v1 addresses are not TCP4 addresses')
    assert.equal(malformed?.remoteAddress, '127.0.0.1')
    assert.equal(malformed?.level, 'warn')
    assert.equal(missing?.msg, 'no proxy protocol header from an allowed address, connection closed')
    assert.equal(missing?.reason, 'missing')
    const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
    assert.match(metrics, /edgecache_proxy_protocol_refused_total\{reason="malformed"\} 1\n/)
    assert.match(metrics, /edgecache_proxy_protocol_refused_total\{reason="missing"\} 1\n/)
  })
})

describe('PROXY protocol from an address not allowed', () => {
  let origin: Origin
  let proxy: TestProxy
  before(async () => {
    origin = await startOrigin()
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_SERVER__PROXY_PROTOCOL__ENABLED: 'true',
        EDGECACHE_SERVER__PROXY_PROTOCOL__ALLOW: '10.0.0.0/8',
      },
    })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  test('its header is refused: the connection closes unanswered, with a log line and a metric', async () => {
    assert.equal(
      await exchange(proxy, Buffer.concat([v2ForClient('203.0.113.7', 1), Buffer.from(get('/spoof'))])),
      '',
    )
    assert.equal(await exchange(proxy, `PROXY TCP4 203.0.113.7 127.0.0.1 1 80\r\n${get('/spoof')}`), '')
    assert.equal(origin.count('/spoof'), 0)
    // One line: the logger holds back a repeat within 10 s, and counts it on the next.
    await waitFor(() => refusals(proxy).length >= 1)
    const [line] = refusals(proxy)
    assert.equal(line?.msg, 'proxy protocol header from an address not allowed, connection closed')
    assert.equal(line?.reason, 'untrusted')
    assert.equal(line?.remoteAddress, '127.0.0.1')
    const metrics = (await send(`${proxy.adminUrl}/metrics`)).text
    assert.match(metrics, /edgecache_proxy_protocol_refused_total\{reason="untrusted"\} 2\n/)
  })

  test('its plain requests are served as ever, with its own address', async () => {
    const answer = await exchange(
      proxy,
      get('/plain', false),
      'POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    )
    assert.equal(answer.match(/HTTP\/1\.1 200 OK/g)?.length, 2, answer)
    assert.equal(origin.requests.find((r) => r.url === '/plain')?.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(origin.requests.find((r) => r.url === '/post')?.body.toString(), 'hi')
    // And through an ordinary client, over keep-alive connections.
    assert.equal((await send(`${proxy.url}/client`)).status, 200)
  })
})

describe('PROXY protocol in front of the TLS listener', { skip: opensslSkipReason() }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      res.end(`hello ${req.url}`)
    })
    certs = await makeCertificates({ main: ['localhost'] })
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_TLS__CERT: certs.servers.main!.cert,
        EDGECACHE_TLS__KEY: certs.servers.main!.key,
        EDGECACHE_SERVER__PROXY_PROTOCOL__ENABLED: 'true',
        EDGECACHE_SERVER__PROXY_PROTOCOL__ALLOW: '127.0.0.1',
      },
    })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    certs.remove()
  })

  /** A TCP connection to the TLS listener that has sent `header`, ready for the handshake. */
  const dialWithHeader = (header: Buffer): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = connect(proxy.tlsPort!, '127.0.0.1', () => {
        socket.write(header)
        resolve(socket)
      })
      socket.once('error', reject)
    })

  test('the header before the handshake names the client of HTTP/1.1 requests over TLS', async () => {
    const tcp = await dialWithHeader(v2ForClient('203.0.113.21', 40001))
    const tlsSocket = tlsConnect({ socket: tcp, servername: 'localhost', ca: readFileSync(certs.ca) })
    const answer = readAll(tlsSocket as unknown as Socket)
    tlsSocket.write(get('/tls/h1'))
    assert.match(await answer, /hello \/tls\/h1/)
    assert.equal(origin.requests.find((r) => r.url === '/tls/h1')?.headers['x-forwarded-for'], '203.0.113.21')
    await waitFor(() => accessLine(proxy, '/tls/h1') !== undefined)
    assert.equal(accessLine(proxy, '/tls/h1')?.client, '203.0.113.21')
  })

  test('and of HTTP/2 streams over TLS', async () => {
    const tcp = await dialWithHeader(Buffer.from('PROXY TCP4 203.0.113.22 127.0.0.1 40002 443\r\n'))
    const session = await openSession(`https://localhost:${proxy.tlsPort}`, {
      ca: readFileSync(certs.ca),
      createConnection: () =>
        tlsConnect({
          socket: tcp,
          servername: 'localhost',
          ca: readFileSync(certs.ca),
          ALPNProtocols: ['h2'],
        }),
    })
    try {
      const reply = await h2Request(session, '/tls/h2')
      assert.equal(reply.text, 'hello /tls/h2')
    } finally {
      session.close()
    }
    assert.equal(origin.requests.find((r) => r.url === '/tls/h2')?.headers['x-forwarded-for'], '203.0.113.22')
  })
})
