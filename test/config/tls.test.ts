import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type ConfigSources, loadConfig } from '../../src/config/load.ts'
import { loadCertificates } from '../../src/server/certificates.ts'
import { type CertificateFiles, makeCertificates, opensslSkipReason } from '../support/certificates.ts'

function problemsOf(sources: ConfigSources): readonly string[] {
  try {
    loadConfig(sources)
  } catch (err) {
    return (err as { problems?: readonly string[] }).problems ?? [(err as Error).message]
  }
  return []
}

describe('tls and http2 config', () => {
  let dir: string
  let pem: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgecache-tls-config-'))
    pem = join(dir, 'x.pem')
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n')
    writeFileSync(join(dir, 'not.pem'), 'hello')
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  test('flags set the TLS listener; a port alone keeps the default host', () => {
    const config = loadConfig({
      env: {},
      flags: {
        'tls-cert': pem,
        'tls-key': pem,
        'tls-listen': '9443',
        'tls-client-ca': pem,
        'tls-client-cert': 'request',
      },
    })
    assert.deepEqual(config.tls.listen, { host: '0.0.0.0', port: 9443 })
    assert.equal(config.tls.clientCert, 'request')
    assert.equal(config.tls.clientCa, pem)
  })

  test('a certificate without its key, and a key without its certificate, name the missing field', () => {
    assert.deepEqual(problemsOf({ env: {}, flags: { 'tls-cert': pem } }), [
      'tls.key: expected tls.cert and tls.key together, got one of them',
    ])
    assert.deepEqual(problemsOf({ env: {}, flags: { 'tls-key': pem } }), [
      'tls.cert: expected tls.cert and tls.key together, got one of them',
    ])
  })

  test('client certificates need a CA, a CA needs a mode, and both need a certificate', () => {
    assert.deepEqual(
      problemsOf({ env: {}, flags: { 'tls-cert': pem, 'tls-key': pem, 'tls-client-cert': 'require' } }),
      ['tls.clientCa: expected the CAs client certificates must chain to, since tls.clientCert is require'],
    )
    assert.deepEqual(
      problemsOf({ env: {}, flags: { 'tls-cert': pem, 'tls-key': pem, 'tls-client-ca': pem } }),
      [
        'tls.clientCert: expected request or require, since tls.clientCa is given (none never asks for a certificate)',
      ],
    )
    assert.deepEqual(problemsOf({ env: { EDGECACHE_TLS__REDIRECT_HTTP: 'true' } }), [
      'EDGECACHE_TLS__REDIRECT_HTTP: needs a certificate (tls.cert and tls.key, or tls.certificates)',
    ])
    assert.deepEqual(problemsOf({ env: {}, flags: { 'tls-client-cert': 'sometimes' } }), [
      '--tls-client-cert: expected one of none, request, require, got "sometimes"',
    ])
  })

  test('a file that cannot be read or is not PEM names its field and never its content', () => {
    const problems = problemsOf({
      env: {},
      flags: { 'tls-cert': join(dir, 'missing.pem'), 'tls-key': join(dir, 'not.pem') },
    })
    assert.equal(problems.length, 2)
    assert.match(problems[0] as string, /^tls\.cert: cannot read .*missing\.pem/)
    assert.match(
      problems[1] as string,
      /^tls\.key: expected a PEM file \(-----BEGIN \.\.\.\), got .*not\.pem$/,
    )
    assert.ok(!problems.join('\n').includes('hello'))
  })

  test('upstream client certificates come as a pair', () => {
    assert.deepEqual(problemsOf({ env: { EDGECACHE_UPSTREAM__TLS__CERT: pem } }), [
      'upstream.tls.key: expected upstream.tls.cert and upstream.tls.key together, got one of them',
    ])
  })
})

describe('loading certificates', { skip: opensslSkipReason() }, () => {
  let certs: CertificateFiles

  before(async () => {
    certs = await makeCertificates({ a: ['a.test'], b: ['b.test'] })
  })

  after(() => certs?.remove())

  test('a key that does not fit its certificate names the field and the certificate', () => {
    assert.throws(
      () =>
        loadCertificates(
          [{ cert: certs.servers.a!.cert, key: certs.servers.b!.key, field: 'tls.certificates[0]' }],
          undefined,
        ),
      (err: { problems: readonly string[] }) =>
        /^tls\.certificates\[0\]\.key: does not fit .*server-a\.crt \(/.test(err.problems[0] ?? ''),
    )
  })

  test('each certificate answers for its DNS names, in file order', () => {
    const set = loadCertificates(
      [
        { cert: certs.servers.a!.cert, key: certs.servers.a!.key, field: 'tls' },
        { cert: certs.servers.b!.cert, key: certs.servers.b!.key, field: 'tls.certificates[0]' },
      ],
      undefined,
    )
    assert.deepEqual(set.names, [['a.test'], ['b.test']])
    assert.notEqual(set.contextFor('B.TEST'), set.contextFor('a.test'))
    assert.equal(set.contextFor('other.test'), set.contextFor('a.test'))
  })
})
