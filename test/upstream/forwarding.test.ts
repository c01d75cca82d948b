import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hasCode } from '../../src/errors.ts'
import { createForwarding } from '../../src/upstream/forwarding.ts'
import { makeContext } from './make-context.ts'

const spoofed = {
  'x-forwarded-for': '203.0.113.9',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'evil.example',
  'x-real-ip': '203.0.113.9',
  forwarded: 'for=203.0.113.9',
}

describe('createForwarding: request fields', () => {
  const forwarding = createForwarding({
    trustedProxies: ['10.0.0.0/8', '2001:db8::/32', '::ffff:192.168.0.0/112', '198.51.100.7'],
  })

  it('replaces the forwarding fields of an untrusted client and drops its Forwarded', () => {
    const headers = forwarding.requestHeaders(makeContext({ clientAddress: '192.0.2.10', headers: spoofed }))
    assert.equal(headers['x-forwarded-for'], '192.0.2.10')
    assert.equal(headers['x-forwarded-proto'], 'http')
    assert.equal(headers['x-forwarded-host'], 'shop.example')
    assert.equal(headers['x-real-ip'], '192.0.2.10')
    assert.equal(headers.forwarded, undefined)
  })

  for (const [label, clientAddress, written] of [
    ['an IPv4 CIDR', '10.1.2.3', '10.1.2.3'],
    ['a single IPv4 address', '198.51.100.7', '198.51.100.7'],
    ['an IPv6 CIDR', '2001:db8::5', '2001:db8::5'],
    ['an IPv4 CIDR, peer seen as IPv4-mapped IPv6', '::ffff:10.1.2.3', '10.1.2.3'],
    ['an IPv4-mapped CIDR, peer seen as IPv4', '192.168.4.4', '192.168.4.4'],
  ] as const) {
    it(`appends to X-Forwarded-For and keeps the rest for a proxy trusted by ${label}`, () => {
      const headers = forwarding.requestHeaders(makeContext({ clientAddress, headers: spoofed }))
      assert.equal(headers['x-forwarded-for'], `203.0.113.9, ${written}`)
      assert.equal(headers['x-forwarded-proto'], 'https')
      assert.equal(headers['x-forwarded-host'], 'evil.example')
      assert.equal(headers['x-real-ip'], '203.0.113.9')
      assert.equal(headers.forwarded, 'for=203.0.113.9')
    })
  }

  const reflected = {
    'x-host': 'evil.example',
    'x-forwarded-server': 'evil.example',
    'x-forwarded-scheme': 'http',
    'x-forwarded-port': '8443',
    'x-forwarded-prefix': '/evil',
    'x-forwarded-ssl': 'off',
    'x-original-host': 'evil.example',
    'x-http-host-override': 'evil.example',
  }

  it('removes the unkeyed host, scheme, port and prefix fields of an untrusted client (cache poisoning)', () => {
    const headers = forwarding.requestHeaders(
      makeContext({ clientAddress: '192.0.2.10', headers: reflected }),
    )
    for (const name of Object.keys(reflected)) assert.equal(headers[name], undefined, name)
  })

  it('keeps them from a trusted proxy', () => {
    const headers = forwarding.requestHeaders(makeContext({ clientAddress: '10.0.0.1', headers: reflected }))
    for (const [name, value] of Object.entries(reflected)) assert.equal(headers[name], value, name)
  })

  it('takes its list of such fields from the options', () => {
    const narrow = createForwarding({ proxyOnlyFields: ['x-tenant-host'] })
    const headers = narrow.requestHeaders(
      makeContext({ clientAddress: '192.0.2.10', headers: { 'x-tenant-host': 'evil', 'x-host': 'kept' } }),
    )
    assert.equal(headers['x-tenant-host'], undefined)
    assert.equal(headers['x-host'], 'kept')
  })

  it('fills in what a trusted proxy left out', () => {
    const headers = forwarding.requestHeaders(makeContext({ clientAddress: '10.0.0.1', scheme: 'https' }))
    assert.equal(headers['x-forwarded-for'], '10.0.0.1')
    assert.equal(headers['x-forwarded-proto'], 'https')
    assert.equal(headers['x-forwarded-host'], 'shop.example')
  })

  it('writes an IPv4-mapped client address as IPv4', () => {
    const headers = forwarding.requestHeaders(makeContext({ clientAddress: '::ffff:192.0.2.10' }))
    assert.equal(headers['x-forwarded-for'], '192.0.2.10')
    assert.equal(headers['x-real-ip'], '192.0.2.10')
  })

  it('does not trust a peer just outside a range', () => {
    const headers = forwarding.requestHeaders(makeContext({ clientAddress: '11.0.0.1', headers: spoofed }))
    assert.equal(headers['x-forwarded-for'], '11.0.0.1')
  })

  it('removes the default method and path override fields', () => {
    const headers = forwarding.requestHeaders(
      makeContext({
        headers: {
          'x-http-method-override': 'DELETE',
          'x-original-url': '/admin',
          'x-rewrite-url': '/admin',
        },
      }),
    )
    assert.equal(headers['x-http-method-override'], undefined)
    assert.equal(headers['x-original-url'], undefined)
    assert.equal(headers['x-rewrite-url'], undefined)
  })

  it('removes the underscore twins of the fields it sets or strips, which CGI-style backends read as them', () => {
    const twins = {
      x_forwarded_for: '6.6.6.6',
      'x-real_ip': '6.6.6.6',
      x_forwarded_host: 'evil.example',
      x_original_url: '/admin',
      x_request_id: 'forged',
      x_app_tenant: 'kept',
    }
    const headers = forwarding.requestHeaders(makeContext({ clientAddress: '192.0.2.10', headers: twins }))
    for (const name of ['x_forwarded_for', 'x-real_ip', 'x_forwarded_host', 'x_original_url', 'x_request_id'])
      assert.equal(headers[name], undefined, name)
    assert.equal(headers['x-forwarded-for'], '192.0.2.10')
    assert.equal(headers.x_app_tenant, 'kept', 'other names with _ are forwarded')
  })

  it('removes a configured list instead of the default one', () => {
    const custom = createForwarding({ stripRequestHeaders: ['X-Method'] })
    const headers = custom.requestHeaders(
      makeContext({ headers: { 'x-method': 'PUT', 'x-original-url': '/a' } }),
    )
    assert.equal(headers['x-method'], undefined)
    assert.equal(headers['x-original-url'], '/a')
  })

  it('sets Via, X-Request-Id and Host, whatever the client sent', () => {
    const headers = forwarding.requestHeaders(
      makeContext({
        id: 'abc',
        headers: { via: '1.0 corp', 'x-request-id': 'spoof', host: 'other.example' },
      }),
    )
    assert.equal(headers.via, '1.0 corp, 1.1 edgecache')
    assert.equal(headers['x-request-id'], 'abc')
    assert.equal(headers.host, 'shop.example')
  })

  it('sends hostOverride as Host when configured', () => {
    const headers = createForwarding({ hostOverride: 'backend.internal:8080' }).requestHeaders(makeContext())
    assert.equal(headers.host, 'backend.internal:8080')
    assert.equal(headers['x-forwarded-host'], 'shop.example')
  })

  it('drops Expect, hop-by-hop fields and HTTP/2 pseudo-header fields', () => {
    const headers = forwarding.requestHeaders(
      makeContext({
        headers: {
          ':path': '/',
          expect: '100-continue',
          connection: 'x-hop',
          'x-hop': '1',
          te: 'trailers',
          'proxy-authorization': 'Basic x',
          accept: 'text/html',
        },
      }),
    )
    assert.deepEqual(Object.keys(headers).sort(), [
      'accept',
      'host',
      'via',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-real-ip',
      'x-request-id',
    ])
  })
})

describe('createForwarding: response fields', () => {
  it('removes hop-by-hop fields, keeps Content-Length and appends to Via', () => {
    const headers = createForwarding().responseHeaders({
      connection: 'x-secret',
      'x-secret': 's',
      'transfer-encoding': 'chunked',
      'content-length': '12',
      via: '1.1 origin-cdn',
    })
    assert.deepEqual(headers, { 'content-length': '12', via: '1.1 origin-cdn, 1.1 edgecache' })
  })
})

describe('createForwarding: options', () => {
  for (const [entry, index] of [
    ['10.0.0.0/33', 1],
    ['not-an-ip', 1],
    ['2001:db8::/129', 1],
    ['10.0.0.0/', 1],
  ] as const) {
    it(`names trustedProxies[${index}] when it is ${JSON.stringify(entry)}`, () => {
      assert.throws(
        () => createForwarding({ trustedProxies: ['127.0.0.1', entry] }),
        (err) => hasCode(err, 'EC_ERR_CONFIG_INVALID') && err.message.includes(`trustedProxies[${index}]`),
      )
    })
  }

  it('refuses to strip a field edgecache sets itself', () => {
    assert.throws(
      () => createForwarding({ stripRequestHeaders: ['x-forwarded-for'] }),
      (err) => hasCode(err, 'EC_ERR_CONFIG_INVALID') && err.message.includes('stripRequestHeaders[0]'),
    )
  })

  it('refuses a hostOverride that is not a host', () => {
    assert.throws(
      () => createForwarding({ hostOverride: 'http://backend/' }),
      (err) => hasCode(err, 'EC_ERR_CONFIG_INVALID') && err.message.includes('hostOverride'),
    )
  })
})
