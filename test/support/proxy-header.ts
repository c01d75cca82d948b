/** PROXY protocol headers made byte by byte, as a load balancer sends them, for tests. */

export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])

/** A v2 header: version/command byte, family/transport byte, then the address block. */
export function v2(versionCommand: number, familyTransport: number, block: Buffer): Buffer {
  const meta = Buffer.from([versionCommand, familyTransport, block.length >> 8, block.length & 0xff])
  return Buffer.concat([V2_SIGNATURE, meta, block])
}

/** The IPv4 address block: source, destination, source port, destination port. */
export function inet(
  source: number[],
  destination: number[],
  sourcePort: number,
  destinationPort: number,
): Buffer {
  const block = Buffer.alloc(12)
  Buffer.from(source).copy(block, 0)
  Buffer.from(destination).copy(block, 4)
  block.writeUInt16BE(sourcePort, 8)
  block.writeUInt16BE(destinationPort, 10)
  return block
}

/** A v2 PROXY header over TCP/IPv4 for a client at `address` (dotted) and `port`. */
export function v2ForClient(address: string, port: number): Buffer {
  return v2(0x21, 0x11, inet(address.split('.').map(Number), [127, 0, 0, 1], port, 80))
}
