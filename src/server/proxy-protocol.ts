/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): where it ends
 * in the first bytes of a connection and which client address it gives. Pure: bytes in, a
 * verdict out; reading the socket is proxy-protocol-listener.ts's job.
 *
 * Hand-written rather than taken from npm: proxy-protocol-js 4.0.6 does no framing (it
 * cannot say whether more bytes are needed, nor where a v2 header's TLVs end and the HTTP
 * request begins), accepts `PROXY TCP4 evil 5.6.7.8 99999 80` and refuses the valid
 * `PROXY UNKNOWN`; @balena/proxy-protocol-parser 1.0.2 ships without its v1 decoder; and
 * findhit-proxywrap patches node's net.Server. The header sits at a trust boundary, so
 * anything this parser does not fully understand is refused.
 */
import { isIPv4, isIPv6 } from 'node:net'

/** What a complete header says about the connection. */
export type ProxyHeader =
  /** The connection was relayed for this client. */
  | {
      readonly kind: 'proxied'
      readonly address: string
      readonly port: number
      readonly family: 'IPv4' | 'IPv6'
    }
  /**
   * The sender's own connection (v2 LOCAL, a health check) or a client it cannot name (v1
   * UNKNOWN, v2 UNSPEC or UNIX): the spec says to keep the connection's own address.
   */
  | { readonly kind: 'local' }

export type ProxyParse =
  /** The bytes so far are a header's beginning: read more. */
  | { readonly state: 'incomplete' }
  /** A whole header of `length` bytes; what follows it is the client's first request. */
  | { readonly state: 'complete'; readonly header: ProxyHeader; readonly length: number }
  /** Not a header (no signature), or a broken one; `reason` is for the log. */
  | { readonly state: 'invalid'; readonly reason: string }

/** v1 starts with these 6 bytes. */
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1')
/** v2 starts with these 12 bytes, chosen to be no valid start of any text protocol. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
/** proxy-protocol.txt §2.1: a v1 line is at most 107 bytes, CRLF included. */
const V1_MAX_BYTES = 107
/**
 * A v2 header may announce up to 64 KiB; the addresses take at most 216 bytes and the TLVs
 * senders add (AWS's endpoint id, Azure's link id, an authority) a few dozen more. This
 * bounds what one connection can make edgecache hold before a single request is read.
 */
export const V2_MAX_BYTES = 4096
const PORT = /^(?:0|[1-9][0-9]{0,4})$/

/**
 * Whether `bytes`, the first of a connection, begin with a PROXY signature: `yes` once a
 * whole signature is there, `maybe` while they are a signature's beginning, else `no`.
 */
export function startsWithProxySignature(bytes: Buffer): 'yes' | 'maybe' | 'no' {
  const v1 = prefixMatch(bytes, V1_SIGNATURE)
  const v2 = prefixMatch(bytes, V2_SIGNATURE)
  if (v1 === 'yes' || v2 === 'yes') return 'yes'
  return v1 === 'maybe' || v2 === 'maybe' ? 'maybe' : 'no'
}

/**
 * Parses the header at the start of `bytes`.
 *
 * @example
 * parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\nGET / HTTP/1.1\r\n'))
 * // { state: 'complete', length: 42, header: { kind: 'proxied', address: '203.0.113.7', port: 51234, family: 'IPv4' } }
 */
export function parseProxyHeader(bytes: Buffer): ProxyParse {
  const v1 = prefixMatch(bytes, V1_SIGNATURE)
  if (v1 === 'yes') return parseV1(bytes)
  const v2 = prefixMatch(bytes, V2_SIGNATURE)
  if (v2 === 'yes') return parseV2(bytes)
  if (v1 === 'maybe' || v2 === 'maybe') return { state: 'incomplete' }
  return { state: 'invalid', reason: 'no PROXY protocol signature' }
}

function parseV1(bytes: Buffer): ProxyParse {
  const end = bytes.indexOf('\r\n', 0, 'latin1')
  if (end === -1 || end + 2 > V1_MAX_BYTES) {
    return bytes.length >= V1_MAX_BYTES
      ? { state: 'invalid', reason: `v1 line longer than ${V1_MAX_BYTES} bytes` }
      : { state: 'incomplete' }
  }
  const length = end + 2
  const fields = bytes.toString('latin1', V1_SIGNATURE.length, end).split(' ')
  const [protocol, source, destination, sourcePort, destinationPort] = fields
  // §2.1: UNKNOWN may be followed by anything up to the CRLF, which is ignored.
  if (protocol === 'UNKNOWN') return { state: 'complete', header: { kind: 'local' }, length }
  if (fields.length !== 5 || (protocol !== 'TCP4' && protocol !== 'TCP6')) {
    return { state: 'invalid', reason: 'v1 line is not TCP4, TCP6 or UNKNOWN with four fields' }
  }
  const isFamily = protocol === 'TCP4' ? isIPv4 : isIPv6
  if (!isFamily(source!) || !isFamily(destination!)) {
    return { state: 'invalid', reason: `v1 addresses are not ${protocol} addresses` }
  }
  if (!isPort(sourcePort!) || !isPort(destinationPort!)) {
    return { state: 'invalid', reason: 'v1 ports are not integers of 0 to 65535' }
  }
  return {
    state: 'complete',
    header: {
      kind: 'proxied',
      address: protocol === 'TCP4' ? source! : source!.toLowerCase(),
      port: Number(sourcePort),
      family: protocol === 'TCP4' ? 'IPv4' : 'IPv6',
    },
    length,
  }
}

function parseV2(bytes: Buffer): ProxyParse {
  if (bytes.length < 16) return { state: 'incomplete' }
  const versionCommand = bytes[12]!
  if (versionCommand >> 4 !== 2) return { state: 'invalid', reason: 'v2 version is not 2' }
  const command = versionCommand & 0x0f
  if (command > 1) return { state: 'invalid', reason: 'v2 command is neither LOCAL nor PROXY' }
  const familyTransport = bytes[13]!
  const family = familyTransport >> 4
  const transport = familyTransport & 0x0f
  if (family > 3 || transport > 2) {
    return { state: 'invalid', reason: 'v2 address family or transport is unknown' }
  }
  const length = 16 + bytes.readUInt16BE(14)
  if (length > V2_MAX_BYTES)
    return { state: 'invalid', reason: `v2 header longer than ${V2_MAX_BYTES} bytes` }
  if (bytes.length < length) return { state: 'incomplete' }
  // §2.2: LOCAL is the sender speaking for itself; AF_UNSPEC and AF_UNIX name no client
  // address; the receiver keeps the connection's own. The rest of the block is skipped.
  if (command === 0 || family === 0 || family === 3) {
    return { state: 'complete', header: { kind: 'local' }, length }
  }
  if (family === 1) {
    if (length < 16 + 12) return { state: 'invalid', reason: 'v2 block too short for IPv4 addresses' }
    const address = `${bytes[16]}.${bytes[17]}.${bytes[18]}.${bytes[19]}`
    return {
      state: 'complete',
      header: { kind: 'proxied', address, port: bytes.readUInt16BE(24), family: 'IPv4' },
      length,
    }
  }
  if (length < 16 + 36) return { state: 'invalid', reason: 'v2 block too short for IPv6 addresses' }
  return {
    state: 'complete',
    header: { kind: 'proxied', address: ipv6Text(bytes, 16), port: bytes.readUInt16BE(48), family: 'IPv6' },
    length,
  }
}

/**
 * The 16 bytes at `offset` as RFC 5952 text (`2001:db8::1`), which the WHATWG URL
 * serializer writes; an IPv4-mapped address keeps its dotted tail (`::ffff:203.0.113.7`),
 * as node reports a mapped peer, so address lists treat it as the IPv4 address.
 */
function ipv6Text(bytes: Buffer, offset: number): string {
  let mapped = bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff
  for (let i = 0; i < 10 && mapped; i++) if (bytes[offset + i] !== 0) mapped = false
  if (mapped) {
    return `::ffff:${bytes[offset + 12]}.${bytes[offset + 13]}.${bytes[offset + 14]}.${bytes[offset + 15]}`
  }
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(offset + i).toString(16))
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)
}

function isPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65535
}

function prefixMatch(bytes: Buffer, signature: Buffer): 'yes' | 'maybe' | 'no' {
  const n = Math.min(bytes.length, signature.length)
  if (bytes.compare(signature, 0, n, 0, n) !== 0) return 'no'
  return n === signature.length ? 'yes' : 'maybe'
}
