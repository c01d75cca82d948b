/**
 * The PROXY protocol parser (proxy-protocol.txt, v1 and v2), as a table: whole headers and
 * their client, the length that leaves the first request intact, headers that need more
 * bytes, and broken ones refused.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseProxyHeader, startsWithProxySignature, V2_MAX_BYTES } from '../../src/server/proxy-protocol.ts'
import { inet, v2, V2_SIGNATURE as SIGNATURE } from '../support/proxy-header.ts'

function inet6(source: number[], sourcePort: number): Buffer {
  const block = Buffer.alloc(36)
  Buffer.from(source).copy(block, 0)
  block.writeUInt16BE(sourcePort, 32)
  block.writeUInt16BE(443, 34)
  return block
}

const request = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')

describe('PROXY protocol v1', () => {
  const cases: [string, string, ReturnType<typeof parseProxyHeader>][] = [
    [
      'TCP4 gives the source address and port',
      'PROXY TCP4 203.0.113.7 192.0.2.1 51234 80\r\n',
      {
        state: 'complete',
        length: 43,
        header: { kind: 'proxied', address: '203.0.113.7', port: 51234, family: 'IPv4' },
      },
    ],
    [
      'TCP6 gives the source address, lowercased',
      'PROXY TCP6 2001:DB8::7 2001:db8::1 443 8443\r\n',
      {
        state: 'complete',
        length: 45,
        header: { kind: 'proxied', address: '2001:db8::7', port: 443, family: 'IPv6' },
      },
    ],
    [
      'UNKNOWN keeps the connection’s own address',
      'PROXY UNKNOWN\r\n',
      { state: 'complete', length: 15, header: { kind: 'local' } },
    ],
    [
      'UNKNOWN may carry anything up to the CRLF',
      'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n',
      { state: 'complete', length: 35, header: { kind: 'local' } },
    ],
    ['a line not yet ended needs more bytes', 'PROXY TCP4 203.0.113.7 192.0', { state: 'incomplete' }],
    ['the signature begun needs more bytes', 'PROX', { state: 'incomplete' }],
    [
      'a host name is not an address',
      'PROXY TCP4 evil 192.0.2.1 1 2\r\n',
      { state: 'invalid', reason: 'v1 addresses are not TCP4 addresses' },
    ],
    [
      'an IPv6 address under TCP4 is refused',
      'PROXY TCP4 ::1 192.0.2.1 1 2\r\n',
      { state: 'invalid', reason: 'v1 addresses are not TCP4 addresses' },
    ],
    [
      'a port past 65535 is refused',
      'PROXY TCP4 203.0.113.7 192.0.2.1 99999 80\r\n',
      { state: 'invalid', reason: 'v1 ports are not integers of 0 to 65535' },
    ],
    [
      'a port with a leading zero is refused',
      'PROXY TCP4 203.0.113.7 192.0.2.1 080 80\r\n',
      { state: 'invalid', reason: 'v1 ports are not integers of 0 to 65535' },
    ],
    [
      'another protocol is refused',
      'PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n',
      { state: 'invalid', reason: 'v1 line is not TCP4, TCP6 or UNKNOWN with four fields' },
    ],
    [
      'a missing field is refused',
      'PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n',
      { state: 'invalid', reason: 'v1 line is not TCP4, TCP6 or UNKNOWN with four fields' },
    ],
    [
      'two spaces between fields are refused',
      'PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n',
      { state: 'invalid', reason: 'v1 line is not TCP4, TCP6 or UNKNOWN with four fields' },
    ],
    [
      'a line past 107 bytes is refused',
      `PROXY UNKNOWN ${'x'.repeat(100)}`,
      { state: 'invalid', reason: 'v1 line longer than 107 bytes' },
    ],
    [
      'an HTTP request is no header',
      'GET / HTTP/1.1\r\n',
      { state: 'invalid', reason: 'no PROXY protocol signature' },
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(parseProxyHeader(Buffer.from(text, 'latin1')), expected))
  }

  test('the length ends at the CRLF: the request after it is left whole', () => {
    const header = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 80\r\n')
    const parsed = parseProxyHeader(Buffer.concat([header, request]))
    assert.equal(parsed.state, 'complete')
    assert.equal(parsed.state === 'complete' && parsed.length, header.length)
  })
})

describe('PROXY protocol v2', () => {
  const proxied4 = v2(0x21, 0x11, inet([203, 0, 113, 7], [192, 0, 2, 1], 51234, 80))

  test('PROXY over IPv4 gives the source address and port; the request after it is left whole', () => {
    assert.deepEqual(parseProxyHeader(Buffer.concat([proxied4, request])), {
      state: 'complete',
      length: 28,
      header: { kind: 'proxied', address: '203.0.113.7', port: 51234, family: 'IPv4' },
    })
  })

  test('PROXY over IPv6 gives the address in its short form', () => {
    const source = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x21, inet6(source, 40000))), {
      state: 'complete',
      length: 52,
      header: { kind: 'proxied', address: '2001:db8::7', port: 40000, family: 'IPv6' },
    })
  })

  test('an IPv4-mapped IPv6 source keeps its dotted form', () => {
    const source = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9]
    const parsed = parseProxyHeader(v2(0x21, 0x21, inet6(source, 1)))
    assert.equal(
      parsed.state === 'complete' && parsed.header.kind === 'proxied' && parsed.header.address,
      '::ffff:198.51.100.9',
    )
  })

  test('TLVs after the addresses are skipped with them', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]) // PP2_TYPE_NOOP, "abc"
    const header = v2(0x21, 0x11, Buffer.concat([inet([10, 1, 2, 3], [10, 0, 0, 1], 5, 80), tlv]))
    const parsed = parseProxyHeader(Buffer.concat([header, request]))
    assert.equal(parsed.state === 'complete' && parsed.length, header.length)
  })

  test('LOCAL, UNSPEC and UNIX keep the connection’s own address', () => {
    assert.deepEqual(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0))), {
      state: 'complete',
      length: 16,
      header: { kind: 'local' },
    })
    assert.deepEqual(parseProxyHeader(v2(0x20, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))), {
      state: 'complete',
      length: 28,
      header: { kind: 'local' },
    })
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, Buffer.alloc(0))).state, 'complete')
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(216))), {
      state: 'complete',
      length: 232,
      header: { kind: 'local' },
    })
  })

  test('a header cut short needs more bytes, from its first byte to its last', () => {
    for (let n = 1; n < proxied4.length; n++) {
      assert.deepEqual(parseProxyHeader(proxied4.subarray(0, n)), { state: 'incomplete' }, `${n} bytes`)
    }
  })

  const broken: [string, Buffer, string][] = [
    [
      'version 1 in a v2 header',
      v2(0x11, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)),
      'v2 version is not 2',
    ],
    [
      'an unknown command',
      v2(0x22, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)),
      'v2 command is neither LOCAL nor PROXY',
    ],
    ['an unknown family', v2(0x21, 0x41, Buffer.alloc(12)), 'v2 address family or transport is unknown'],
    ['an unknown transport', v2(0x21, 0x13, Buffer.alloc(12)), 'v2 address family or transport is unknown'],
    ['IPv4 with a short block', v2(0x21, 0x11, Buffer.alloc(8)), 'v2 block too short for IPv4 addresses'],
    ['IPv6 with a short block', v2(0x21, 0x21, Buffer.alloc(12)), 'v2 block too short for IPv6 addresses'],
    [
      'a block past the bound',
      v2(0x21, 0x11, Buffer.alloc(V2_MAX_BYTES)),
      `v2 header longer than ${V2_MAX_BYTES} bytes`,
    ],
  ]
  for (const [name, bytes, reason] of broken) {
    test(`refuses ${name}`, () => assert.deepEqual(parseProxyHeader(bytes), { state: 'invalid', reason }))
  }
})

describe('the signature check for peers that may not send a header', () => {
  test('says yes at a whole signature, maybe at its beginning, no otherwise', () => {
    assert.equal(startsWithProxySignature(Buffer.from('PROXY TCP4')), 'yes')
    assert.equal(startsWithProxySignature(SIGNATURE), 'yes')
    assert.equal(startsWithProxySignature(Buffer.from('PROX')), 'maybe')
    assert.equal(startsWithProxySignature(SIGNATURE.subarray(0, 5)), 'maybe')
    assert.equal(startsWithProxySignature(Buffer.from('POST / HTTP/1.1')), 'no')
    assert.equal(startsWithProxySignature(Buffer.from('PRI * HTTP/2.0')), 'no')
    assert.equal(startsWithProxySignature(Buffer.from('GET /')), 'no')
  })
})
