/**
 * HTTPS to the origin, with certificates made at test time by openssl: a pool's `tls.ca`
 * makes a private CA's certificate trusted, `tls.servername` is the SNI the origin receives
 * and the name its certificate must carry, and an origin whose certificate cannot be
 * trusted (unknown CA, or another name) is a 502 that reaches no one's cache.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestCa, opensslSkipReason } from '../support/origin-certificates.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const skip = opensslSkipReason()

describe('HTTPS to the origin', { skip }, () => {
  let dir: string
  let origin: Origin
  let proxy: TestProxy

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgecache-https-origin-'))
    const ca = await createTestCa(dir)
    // The certificate names origin.test only: not 127.0.0.1, the address in the server URL.
    const server = await ca.issue('origin', 'subjectAltName=DNS:origin.test\nextendedKeyUsage=serverAuth\n')
    // Another CA: its certificate is a stranger to a pool that trusts the first one.
    const otherCa = await createTestCa(dir, 'another test CA')
    origin = await startOrigin(
      (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
        res.end(`secure ${req.url}`)
      },
      { tls: { cert: readFileSync(server.cert), key: readFileSync(server.key) } },
    )
    const pool = (tls: Record<string, unknown>) => ({
      servers: [{ url: origin.url }],
      health: { interval: '0s' },
      tls,
    })
    const routes = join(dir, 'routes.yaml')
    writeFileSync(
      routes,
      `default: { name: other, upstream: trusted }\nroutes:\n${[
        'trusted',
        'no-ca',
        'other-ca',
        'no-name',
        'unverified',
      ]
        .map((name) => `  - { name: ${name}, match: { pathPrefix: /${name}/ }, upstream: ${name} }\n`)
        .join('')}`,
    )
    proxy = await startProxy({
      config: {
        routes,
        upstreams: {
          trusted: pool({ ca: ca.cert, servername: 'origin.test' }),
          'no-ca': pool({ servername: 'origin.test' }),
          'other-ca': pool({ ca: otherCa.cert, servername: 'origin.test' }),
          'no-name': pool({ ca: ca.cert }),
          unverified: pool({ verify: false }),
        },
      },
    })
  })

  after(async () => {
    await proxy?.close()
    await origin?.close()
    await closeClient()
    rmSync(dir, { recursive: true, force: true })
  })

  test('with the configured CA the origin answers, and receives the configured server name', async () => {
    const reply = await send(`${proxy.url}/trusted/a`)
    assert.equal(reply.status, 200)
    assert.equal(reply.text, 'secure /trusted/a')
    const seen = origin.requests.filter((r) => r.url === '/trusted/a')
    assert.equal(seen.length, 1)
    assert.equal(seen[0]?.servername, 'origin.test')
  })

  for (const [pool, why] of [
    ['no-ca', 'a private CA not configured: only the system roots are trusted'],
    ['other-ca', 'the certificate is signed by another CA than the one configured'],
    ['no-name', 'without servername the name checked is 127.0.0.1, which the certificate does not carry'],
  ] as const) {
    test(`an origin certificate that cannot be trusted is a 502 (${why})`, async () => {
      const before = origin.count(`/${pool}/a`)
      const logged = proxy.logs.length
      const reply = await send(`${proxy.url}/${pool}/a`)
      assert.equal(reply.status, 502)
      // Short, and nothing internal: no certificate detail reaches the client. The request
      // id is random hex, which can spell "ca": it is left out of the check.
      const withoutId = reply.text.replace(/\(request id [^)]*\)/, '')
      assert.match(reply.text, /\(request id [0-9a-f]+-\d+\)/)
      assert.doesNotMatch(withoutId, /cert|CA|tls|origin\.test/i)
      assert.equal(origin.count(`/${pool}/a`), before)
      // The operator's log says why; repeats of one error code within a minute are held
      // back (observability/log-limits.ts), so only the first case's line is written.
      if (pool === 'no-ca') {
        await waitFor(() =>
          proxy.logs
            .slice(logged)
            .some((l) => l.msg === 'request failed' && /certificate/i.test(JSON.stringify(l.err))),
        )
      }
    })
  }

  test('tls.verify: false accepts any certificate (for tests only)', async () => {
    const reply = await send(`${proxy.url}/unverified/a`)
    assert.equal(reply.status, 200)
    assert.equal(reply.text, 'secure /unverified/a')
    // Without tls.servername the URL's host is the name, and an IP address is never sent as SNI.
    assert.equal(origin.requests.find((r) => r.url === '/unverified/a')?.servername, false)
  })
})
