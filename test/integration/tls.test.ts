import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { constants } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { Agent, request as undiciRequest } from 'undici'
import { type CertificateFiles, makeCertificates, opensslSkipReason } from '../support/certificates.ts'
import { send, waitFor } from '../support/client.ts'
import { openSession, request } from '../support/h2.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const skip = opensslSkipReason()
const TOKEN = 'tls-test-token-0123456789'

/** The subject and SAN of the certificate a TLS client gets for `servername`. */
function peerCertificate(port: number, ca: string, servername: string): Promise<{ cn: string; san: string }> {
  return new Promise((resolve, reject) => {
    // Which certificate is served is the question, so any name is accepted here.
    const options = {
      host: '127.0.0.1',
      port,
      servername,
      ca: readFileSync(ca),
      checkServerIdentity: () => undefined,
    }
    const socket: TLSSocket = tlsConnect(options, () => {
      const cert = socket.getPeerCertificate()
      socket.end()
      resolve({ cn: String(cert.subject.CN), san: String(cert.subjectaltname) })
    })
    socket.once('error', reject)
  })
}

/** An HTTP/1.1 client over TLS (undici), trusting the test CA. */
function https1(ca: string, cert?: { cert: string; key: string }): Agent {
  return new Agent({
    // HTTP/1.1 itself: undici would otherwise take h2 when the listener offers it.
    allowH2: false,
    connect: {
      ca: readFileSync(ca),
      servername: 'localhost',
      ...(cert === undefined ? {} : { cert: readFileSync(cert.cert), key: readFileSync(cert.key) }),
    },
  })
}

describe('TLS listener, HTTP/2 and the cache', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles
  let base: string

  before(async () => {
    certs = await makeCertificates({ main: ['localhost'] })
    origin = await startOrigin((_req, res) => {
      // Connection-specific fields a backend may send: never on an HTTP/2 answer.
      res.writeHead(200, {
        'content-type': 'text/plain',
        'cache-control': 'max-age=60',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
      })
      res.end('hello')
    })
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_TLS__CERT: certs.servers.main!.cert,
        EDGECACHE_TLS__KEY: certs.servers.main!.key,
        EDGECACHE_ADMIN_TOKEN: TOKEN,
        EDGECACHE_HTTP2__CLEARTEXT_LISTEN: '127.0.0.1:0',
      },
    })
    base = `https://localhost:${proxy.tlsPort}`
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    certs?.remove()
  })

  test('an HTTP/2 client gets a miss, then a hit, and HTTP/1.1 over TLS the same entry', async () => {
    const session = await openSession(base, { ca: readFileSync(certs.ca) })
    try {
      const first = await request(session, '/a')
      assert.equal(first.status, 200)
      assert.equal(first.text, 'hello')
      assert.match(first.header('cache-status') ?? '', /fwd=uri-miss/)
      const second = await request(session, '/a')
      assert.match(second.header('cache-status') ?? '', /; hit/)
      // RFC 9113 §8.2.2: no connection-specific fields on an HTTP/2 response.
      for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']) {
        assert.equal(second.headers[name], undefined, `${name} is not sent over HTTP/2`)
      }
    } finally {
      session.close()
    }
    const agent = https1(certs.ca)
    try {
      const res = await undiciRequest(`${base}/a`, { dispatcher: agent })
      assert.equal(res.statusCode, 200)
      assert.equal(await res.body.text(), 'hello')
      assert.match(String(res.headers['cache-status']), /; hit/)
    } finally {
      await agent.close()
    }
    assert.equal(origin.count('/a'), 1)
    const seen = origin.requests.find((r) => r.url === '/a')
    assert.equal(seen?.headers['x-forwarded-proto'], 'https')
    assert.equal(seen?.headers.host, `localhost:${proxy.tlsPort}`)
  })

  test('a purge reaches what HTTP/2 clients were served', async () => {
    const session = await openSession(base, { ca: readFileSync(certs.ca) })
    try {
      await request(session, '/purged')
      assert.match((await request(session, '/purged')).header('cache-status') ?? '', /; hit/)
      const purge = await send(`${proxy.adminUrl}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ urls: [`${base}/purged`] }),
      })
      assert.equal(purge.status, 200)
      assert.match((await request(session, '/purged')).header('cache-status') ?? '', /fwd=uri-miss/)
      assert.equal(origin.count('/purged'), 2)
    } finally {
      session.close()
    }
  })

  test('cleartext HTTP/2 with prior knowledge gets a miss, then a hit', async () => {
    const session = await openSession(`http://127.0.0.1:${proxy.h2cPort}`)
    try {
      assert.match((await request(session, '/h2c')).header('cache-status') ?? '', /fwd=uri-miss/)
      assert.match((await request(session, '/h2c')).header('cache-status') ?? '', /; hit/)
    } finally {
      session.close()
    }
    assert.equal(origin.count('/h2c'), 1)
  })

  test('an HTTP/2 request whose Host differs from :authority is refused with 400', async () => {
    const session = await openSession(base, { ca: readFileSync(certs.ca) })
    try {
      const res = await request(session, '/mismatch', {
        ':authority': `localhost:${proxy.tlsPort}`,
        host: 'other.test',
      })
      assert.equal(res.status, 400)
      assert.match(res.text, /Host field differs from :authority/)
    } finally {
      session.close()
    }
    assert.equal(origin.count('/mismatch'), 0)
  })

  test('metrics count requests by protocol and scheme', async () => {
    const metrics = await send(`${proxy.adminUrl}/metrics`)
    assert.match(metrics.text, /edgecache_requests_by_protocol_total\{protocol="h2",scheme="https"\} [1-9]/)
    assert.match(
      metrics.text,
      /edgecache_requests_by_protocol_total\{protocol="http\/1\.1",scheme="https"\} [1-9]/,
    )
    assert.match(metrics.text, /edgecache_requests_by_protocol_total\{protocol="h2",scheme="http"\} [1-9]/)
  })
})

describe('TLS certificates: SNI and reload', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles
  let live: string

  before(async () => {
    certs = await makeCertificates({ a: ['a.test'], b: ['*.b.test', 'b.test'], renewed: ['a.test'] })
    // The first certificate's files are copied, so a test can overwrite them as a renewal does.
    live = mkdtempSync(join(tmpdir(), 'edgecache-live-certs-'))
    copyFileSync(certs.servers.a!.cert, join(live, 'a.crt'))
    copyFileSync(certs.servers.a!.key, join(live, 'a.key'))
    origin = await startOrigin()
    proxy = await startProxy({
      upstream: origin.url,
      config: {
        tls: {
          cert: join(live, 'a.crt'),
          key: join(live, 'a.key'),
          certificates: [{ cert: certs.servers.b!.cert, key: certs.servers.b!.key }],
        },
      },
    })
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    certs?.remove()
    rmSync(live, { recursive: true, force: true })
  })

  test('SNI picks the certificate whose names match, a wildcard for one label, else the first', async () => {
    const port = proxy.tlsPort as number
    assert.equal((await peerCertificate(port, certs.ca, 'a.test')).cn, 'a.test')
    assert.equal((await peerCertificate(port, certs.ca, 'www.b.test')).cn, '*.b.test')
    assert.equal((await peerCertificate(port, certs.ca, 'b.test')).cn, '*.b.test')
    // Two labels are not one: the wildcard does not cover them.
    assert.equal((await peerCertificate(port, certs.ca, 'x.www.b.test')).cn, 'a.test')
    assert.equal((await peerCertificate(port, certs.ca, 'unknown.test')).cn, 'a.test')
  })

  test('a renewed certificate is served to new connections and an open connection goes on', async () => {
    const port = proxy.tlsPort as number
    const session = await openSession(`https://127.0.0.1:${port}`, {
      ca: readFileSync(certs.ca),
      servername: 'a.test',
    })
    try {
      assert.equal((await request(session, '/before', { ':authority': 'a.test' })).status, 200)
      const serialBefore = (session.socket as TLSSocket).getPeerCertificate().serialNumber
      // A renewal: the key first, then the certificate (a moment where they do not fit).
      copyFileSync(certs.servers.renewed!.key, join(live, 'a.key'))
      copyFileSync(certs.servers.renewed!.cert, join(live, 'a.crt'))
      const renewedSerial = await new Promise<string>((resolve, reject) => {
        const socket: TLSSocket = tlsConnect(
          { host: '127.0.0.1', port, servername: 'a.test', ca: readFileSync(certs.ca) },
          () => {
            resolve(socket.getPeerCertificate().serialNumber)
            socket.end()
          },
        )
        socket.once('error', reject)
      })
      await waitFor(async () => {
        const socket = await new Promise<TLSSocket>((resolve, reject) => {
          const s: TLSSocket = tlsConnect(
            { host: '127.0.0.1', port, servername: 'a.test', ca: readFileSync(certs.ca) },
            () => resolve(s),
          )
          s.once('error', reject)
        })
        const serial = socket.getPeerCertificate().serialNumber
        socket.end()
        return serial !== serialBefore
      }, 10_000)
      assert.ok(renewedSerial !== undefined)
      // The connection opened before the renewal is still served, on its old certificate.
      assert.equal(session.closed || session.destroyed, false)
      assert.equal((await request(session, '/after', { ':authority': 'a.test' })).status, 200)
      assert.equal((session.socket as TLSSocket).getPeerCertificate().serialNumber, serialBefore)
    } finally {
      session.close()
    }
  })
})

describe('TLS certificates on a config reload (SIGHUP)', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles
  let env: Record<string, string>

  before(async () => {
    certs = await makeCertificates({ first: ['localhost'], second: ['localhost'] })
    origin = await startOrigin()
    env = { EDGECACHE_TLS__CERT: certs.servers.first!.cert, EDGECACHE_TLS__KEY: certs.servers.first!.key }
    proxy = await startProxy({ upstream: origin.url, env })
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    certs?.remove()
  })

  test('a key that does not fit its certificate refuses the reload and keeps the certificate; a good pair is taken', async () => {
    const port = proxy.tlsPort as number
    const serialOf = async () => {
      const socket = await new Promise<TLSSocket>((resolve, reject) => {
        const s: TLSSocket = tlsConnect(
          { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(certs.ca) },
          () => resolve(s),
        )
        s.once('error', reject)
      })
      const serial = socket.getPeerCertificate().serialNumber
      socket.end()
      return serial
    }
    const before = await serialOf()
    env.EDGECACHE_TLS__KEY = certs.servers.second!.key
    const refused = await proxy.app.reload('config', 'signal')
    assert.equal(refused.reloaded, false)
    assert.match(refused.problems.join('\n'), /^tls\.key: does not fit /m)
    assert.equal(await serialOf(), before)
    env.EDGECACHE_TLS__CERT = certs.servers.second!.cert
    const taken = await proxy.app.reload('config', 'signal')
    assert.equal(taken.reloaded, true)
    assert.deepEqual(taken.restartNeeded, [])
    assert.notEqual(await serialOf(), before)
    // No key material in any log line.
    const key = readFileSync(certs.servers.second!.key, 'utf8').split('\n')[1] as string
    assert.ok(!proxy.lines.some((line) => line.includes(key)))
  })
})

describe('mTLS: client certificates on the listener', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles
  let routesDir: string

  before(async () => {
    certs = await makeCertificates({ main: ['localhost'] })
    origin = await startOrigin()
    routesDir = mkdtempSync(join(tmpdir(), 'edgecache-mtls-routes-'))
    const routes = join(routesDir, 'routes.yaml')
    writeFileSync(
      routes,
      'routes:\n  - name: secure\n    match: { pathPrefix: /secure/ }\n    requireClientCert: true\n    cache: { bypass: true }\n',
    )
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_ROUTES: routes,
        EDGECACHE_TLS__CERT: certs.servers.main!.cert,
        EDGECACHE_TLS__KEY: certs.servers.main!.key,
        EDGECACHE_TLS__CLIENT_CA: certs.ca,
        EDGECACHE_TLS__CLIENT_CERT: 'request',
      },
    })
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    certs?.remove()
    rmSync(routesDir, { recursive: true, force: true })
  })

  test('a route with requireClientCert answers 403 without a verified certificate and never reaches the backend', async () => {
    const base = `https://localhost:${proxy.tlsPort}`
    for (const cert of [undefined, { cert: certs.strangerCert, key: certs.strangerKey }]) {
      const agent = https1(certs.ca, cert)
      try {
        const res = await undiciRequest(`${base}/secure/x`, { dispatcher: agent })
        assert.equal(
          res.statusCode,
          403,
          cert === undefined ? 'without a certificate' : 'with an untrusted one',
        )
        assert.match(await res.body.text(), /needs a verified client certificate/)
      } finally {
        await agent.close()
      }
    }
    // The plain listener never has one.
    assert.equal((await send(`${proxy.url}/secure/x`)).status, 403)
    assert.equal(origin.count('/secure/x'), 0)
  })

  test('with a verified certificate the route is served, the subject goes upstream, and clients cannot forge it', async () => {
    const base = `https://localhost:${proxy.tlsPort}`
    const session = await openSession(base, {
      ca: readFileSync(certs.ca),
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    })
    try {
      const res = await request(session, '/secure/y', { 'x-client-cert-subject': 'CN=admin' })
      assert.equal(res.status, 200)
    } finally {
      session.close()
    }
    const seen = origin.requests.find((r) => r.url === '/secure/y')
    assert.equal(seen?.headers['x-client-cert-subject'], 'CN=edgecache test client,O=Edgecache Tests')
    // Without a certificate, on a route that does not require one: the forged field is removed.
    const agent = https1(certs.ca)
    try {
      const res = await undiciRequest(`${base}/open`, {
        dispatcher: agent,
        headers: { 'x-client-cert-subject': 'CN=admin' },
      })
      assert.equal(res.statusCode, 200)
      await res.body.text()
    } finally {
      await agent.close()
    }
    assert.equal(origin.requests.find((r) => r.url === '/open')?.headers['x-client-cert-subject'], undefined)
  })
})

describe('mTLS: tls.clientCert require', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles

  before(async () => {
    certs = await makeCertificates({ main: ['localhost'] })
    origin = await startOrigin()
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_TLS__CERT: certs.servers.main!.cert,
        EDGECACHE_TLS__KEY: certs.servers.main!.key,
        EDGECACHE_TLS__CLIENT_CA: certs.ca,
        EDGECACHE_TLS__CLIENT_CERT: 'require',
      },
    })
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    certs?.remove()
  })

  test('a client without a certificate is refused at the handshake; one with a verified certificate is served', async () => {
    const base = `https://localhost:${proxy.tlsPort}`
    await assert.rejects(async () => {
      const session = await openSession(base, { ca: readFileSync(certs.ca) })
      try {
        await request(session, '/r')
      } finally {
        session.destroy()
      }
    })
    const session = await openSession(base, {
      ca: readFileSync(certs.ca),
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    })
    try {
      assert.equal((await request(session, '/r')).status, 200)
    } finally {
      session.close()
    }
    assert.equal(origin.count('/r'), 1)
  })
})

describe('the plain listener redirecting to https', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles

  before(async () => {
    certs = await makeCertificates({ main: ['localhost'] })
    origin = await startOrigin()
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_TLS__CERT: certs.servers.main!.cert,
        EDGECACHE_TLS__KEY: certs.servers.main!.key,
        EDGECACHE_TLS__REDIRECT_HTTP: 'true',
        EDGECACHE_TLS__REDIRECT_PORT: '443',
      },
    })
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    certs?.remove()
  })

  test('answers 308 to the same host and target on https, and reaches no backend', async () => {
    const res = await send(`${proxy.url}/p?q=1`, { headers: { host: 'shop.example:8000' } })
    assert.equal(res.status, 308)
    assert.equal(res.header('location'), 'https://shop.example/p?q=1')
    assert.equal(origin.count(), 0)
  })
})

describe('mTLS to the upstream', { skip }, () => {
  let certs: CertificateFiles
  let backend: ReturnType<typeof createHttpsServer>
  let port: number
  const subjects: string[] = []

  before(async () => {
    certs = await makeCertificates({ origin: ['localhost'] })
    backend = createHttpsServer(
      {
        cert: readFileSync(certs.servers.origin!.cert),
        key: readFileSync(certs.servers.origin!.key),
        ca: readFileSync(certs.ca),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        subjects.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN))
        res.writeHead(200, { 'cache-control': 'no-store' })
        res.end('secret')
      },
    )
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
    port = (backend.address() as AddressInfo).port
  })

  after(async () => {
    backend?.closeAllConnections()
    await new Promise((resolve) => backend?.close(resolve))
    certs?.remove()
  })

  test('upstream.tls.cert and key are shown to a backend that requires a client certificate', async () => {
    const proxy = await startProxy({
      upstream: `https://localhost:${port}`,
      env: {
        EDGECACHE_UPSTREAM__TLS__CA: certs.ca,
        EDGECACHE_UPSTREAM__TLS__CERT: certs.clientCert,
        EDGECACHE_UPSTREAM__TLS__KEY: certs.clientKey,
      },
    })
    try {
      const res = await send(`${proxy.url}/m`)
      assert.equal(res.status, 200)
      assert.equal(res.text, 'secret')
      assert.deepEqual(subjects, ['edgecache test client'])
    } finally {
      await proxy.close()
    }
  })

  test('a pool of upstreams: with tls.cert and key reaches it; without them the backend refuses (502)', async () => {
    const pool = (tls: Record<string, unknown>) => ({
      upstreams: { secure: { servers: [{ url: `https://localhost:${port}` }], retry: { attempts: 1 }, tls } },
    })
    const routesDir = mkdtempSync(join(tmpdir(), 'edgecache-pool-routes-'))
    const routes = join(routesDir, 'routes.yaml')
    writeFileSync(routes, 'routes: []\ndefault: { upstream: secure }\n')
    const withCert = await startProxy({
      config: { ...pool({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }), routes },
    })
    const without = await startProxy({ config: { ...pool({ ca: certs.ca }), routes } })
    try {
      assert.equal((await send(`${withCert.url}/p`)).status, 200)
      assert.equal((await send(`${without.url}/p`)).status, 502)
    } finally {
      await withCert.close()
      await without.close()
      rmSync(routesDir, { recursive: true, force: true })
    }
  })
})

describe('HTTP/2 rapid reset', { skip }, () => {
  let origin: Origin
  let proxy: TestProxy
  let certs: CertificateFiles
  const held: (() => void)[] = []

  before(async () => {
    certs = await makeCertificates({ main: ['localhost'] })
    // Answers only when released, so each request is in flight when the client cancels it.
    origin = await startOrigin(
      (_req, res) =>
        new Promise<void>((resolve) => {
          held.push(() => {
            res.end('late')
            resolve()
          })
        }),
    )
    proxy = await startProxy({
      upstream: origin.url,
      env: {
        EDGECACHE_TLS__CERT: certs.servers.main!.cert,
        EDGECACHE_TLS__KEY: certs.servers.main!.key,
        EDGECACHE_HTTP2__MAX_CLIENT_RESETS: '5',
      },
    })
  })

  after(async () => {
    for (const release of held) release()
    await proxy?.close()
    await origin?.close()
    certs?.remove()
  })

  test('a connection that cancels more than maxClientResets streams is closed with ENHANCE_YOUR_CALM', async () => {
    const session = await openSession(`https://localhost:${proxy.tlsPort}`, { ca: readFileSync(certs.ca) })
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)))
    session.on('error', () => {})
    for (let i = 0; i < 6; i++) {
      const stream = session.request({ ':path': `/slow/${i}` })
      stream.on('error', () => {})
      stream.end()
      await waitFor(() => origin.count(`/slow/${i}`) === 1)
      stream.close(constants.NGHTTP2_CANCEL)
      if (session.destroyed) break
    }
    assert.equal(await goaway, constants.NGHTTP2_ENHANCE_YOUR_CALM)
    const metrics = await send(`${proxy.adminUrl}/metrics`)
    assert.match(metrics.text, /edgecache_http2_rapid_reset_closes_total 1/)
  })
})
