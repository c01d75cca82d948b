/**
 * The baseline: a bare node:http server answering every request with the same 1 KiB
 * buffer. The proxy's hit path is measured against it. Runs as its own process; listens
 * on an ephemeral loopback port and prints `{"port":N}` on stdout once ready.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const body = Buffer.alloc(1024, 0x61)
const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }

const server = createServer((_req, res) => {
  res.writeHead(200, headers)
  res.end(body)
})

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
})
const stop = () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
