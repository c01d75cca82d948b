import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import { type CertificateFiles, makeCertificates, opensslSkipReason } from '../support/certificates.ts'
import { type RunningCommand, freePort, runEdgecache } from '../support/cli.ts'
import { waitFor } from '../support/client.ts'
import { openSession, request } from '../support/h2.ts'
import { type Origin, startOrigin } from '../support/origin.ts'

const exec = promisify(execFile)
const skip = opensslSkipReason()

/** The serial number of the certificate a new TLS connection gets. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = tlsConnect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca) },
      () => {
        resolve(socket.getPeerCertificate().serialNumber)
        socket.end()
      },
    )
    socket.once('error', reject)
  })
}

/** The session a new TLS connection is issued (TLS 1.3 sends it after the handshake). */
function newSession(port: number, ca: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(ca),
    })
    socket.once('session', (session: Buffer) => {
      resolve(session)
      socket.end()
    })
    socket.once('error', reject)
  })
}

/** Whether a new TLS connection that offers `session` has it resumed. */
function resumes(port: number, ca: string, session: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = tlsConnect(
      { host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca), session },
      () => {
        resolve(socket.isSessionReused())
        socket.end()
      },
    )
    socket.once('error', reject)
  })
}

// The default number of workers (one per CPU; node:cluster), each with every listener.
describe('the TLS listener with the default workers', { skip }, () => {
  let origin: Origin
  let certs: CertificateFiles
  let live: string
  let command: RunningCommand
  let tlsPort: number

  before(async () => {
    certs = await makeCertificates({ first: ['localhost'], renewed: ['localhost'] })
    live = mkdtempSync(join(tmpdir(), 'edgecache-workers-certs-'))
    copyFileSync(certs.servers.first!.cert, join(live, 'site.crt'))
    copyFileSync(certs.servers.first!.key, join(live, 'site.key'))
    origin = await startOrigin()
    tlsPort = await freePort()
    command = runEdgecache([
      ...['--upstream', origin.url, '--listen', `127.0.0.1:${await freePort()}`],
      ...['--admin-listen', `127.0.0.1:${await freePort()}`, '--log-level', 'warn'],
      ...['--tls-listen', `127.0.0.1:${tlsPort}`],
      ...['--tls-cert', join(live, 'site.crt'), '--tls-key', join(live, 'site.key')],
    ])
    // Every worker serves once a handful of new connections all succeed.
    await waitFor(async () => {
      try {
        for (let i = 0; i < 4; i++) await servedSerial(tlsPort, certs.ca)
        return true
      } catch {
        return false
      }
    }, 30_000)
  })

  after(async () => {
    command?.child.kill('SIGTERM')
    await command?.exited
    await origin?.close()
    certs?.remove()
    rmSync(live, { recursive: true, force: true })
  })

  test('node:http2 clients get a miss, then hits, each on a new connection', async () => {
    const statuses: string[] = []
    for (let i = 0; i < 4; i++) {
      const session = await openSession(`https://localhost:${tlsPort}`, { ca: readFileSync(certs.ca) })
      try {
        const res = await request(session, '/h2')
        assert.equal(res.status, 200)
        statuses.push(res.header('cache-status') ?? '')
      } finally {
        session.close()
      }
    }
    assert.match(statuses[0] as string, /fwd=uri-miss/)
    for (const status of statuses.slice(1)) assert.match(status, /; hit/)
    assert.equal(origin.count('/h2'), 1)
  })

  test('curl --http2 gets a miss, then a hit', async () => {
    const curl = async () => {
      const { stdout } = await exec('curl', [
        ...['-s', '-D', '-', '-o', '/dev/null', '--http2', '--cacert', certs.ca],
        `https://localhost:${tlsPort}/curl`,
      ])
      return stdout
    }
    const first = await curl()
    assert.match(first, /^HTTP\/2 200/)
    assert.match(first, /cache-status: edgecache; fwd=uri-miss/)
    const second = await curl()
    assert.match(second, /^HTTP\/2 200/)
    assert.match(second, /cache-status: edgecache; hit/)
    assert.equal(origin.count('/curl'), 1)
  })

  test('a renewed certificate reaches every worker, and an open connection is not dropped', async () => {
    const session = await openSession(`https://localhost:${tlsPort}`, { ca: readFileSync(certs.ca) })
    try {
      assert.equal((await request(session, '/open')).status, 200)
      const before = await servedSerial(tlsPort, certs.ca)
      copyFileSync(certs.servers.renewed!.cert, join(live, 'site.crt'))
      copyFileSync(certs.servers.renewed!.key, join(live, 'site.key'))
      // Several new connections in a row, so both workers are asked.
      await waitFor(async () => {
        const serials = new Set<string>()
        for (let i = 0; i < 4; i++) serials.add(await servedSerial(tlsPort, certs.ca))
        return serials.size === 1 && !serials.has(before)
      }, 15_000)
      assert.equal((await request(session, '/open')).status, 200)
      assert.equal(session.destroyed, false)
    } finally {
      session.close()
    }
  })

  test('a TLS session resumes on a new connection whichever worker takes it', async () => {
    const session = await newSession(tlsPort, certs.ca)
    const reused: boolean[] = []
    // New connections alternate between the two workers (node:cluster deals them out in turn).
    for (let i = 0; i < 8; i++) reused.push(await resumes(tlsPort, certs.ca, session))
    assert.deepEqual(reused, Array(8).fill(true))
  })
})
