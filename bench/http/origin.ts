/**
 * The benchmark origin: fixed buffers, no per-request work beyond a header write, so the
 * figures measure what sits in front of it. Runs as its own process; listens on an
 * ephemeral loopback port and prints `{"port":N}` on stdout once ready.
 *
 * Paths:
 * - `/hit/1k`, `/hit/16k`, `/hit/256k`: cacheable for an hour.
 * - `/hit/text-16k`, `/hit/text-16k-decoded`: 16 KiB of HTML (text-body.ts), cacheable for
 *   an hour, with an ETag: what a proxy compresses.
 * - `/miss`: 1 KiB, `no-store`, so every request goes through to here.
 * - `/miss-10ms`: as `/miss`, answered after 10 ms (a timer, no CPU), like a backend that
 *   does some work: what a proxy adds shows against a backend that is not instant.
 * - `/fill/<anything>`: 1 KiB, cacheable for an hour, as `/hit/1k`; the fill case asks for
 *   a new path each request, so a proxy stores every answer. Counted together under `/fill`.
 * - `/stale`: 1 KiB, `max-age=1, stale-while-revalidate=86400` and `Age: 2`. The Age makes
 *   every copy stale on arrival, the first and each one a background refresh brings, so a
 *   warm proxy answers every request stale and refreshes at most once at a time. Without
 *   it a refresh would make the entry fresh again for a second and the case would measure
 *   mostly fresh hits.
 * - `/__counts`: requests served per path since start (`/fill/*` as `/fill`), as JSON (for
 *   the runner).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { textPage } from './text-body.ts'

const KIB = 1024
const body1k = Buffer.alloc(KIB, 0x61)
const BACKEND_DELAY_MS = 10

type Route = {
  readonly body: Buffer
  readonly headers: Readonly<Record<string, string>>
  readonly delayMs?: number
}

const cacheable = (size: number, fill: number): Route => ({
  body: Buffer.alloc(size, fill),
  headers: { 'cache-control': 'max-age=3600' },
})

const page: Route = {
  body: textPage(16 * KIB),
  headers: {
    'cache-control': 'max-age=3600',
    'content-type': 'text/html; charset=utf-8',
    etag: '"text-16k"',
  },
}

const FILL_PREFIX = '/fill/'
const fill = cacheable(KIB, 0x64)

const routes: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/hit/text-16k', page],
  ['/hit/text-16k-decoded', page],
  ['/hit/1k', cacheable(KIB, 0x61)],
  ['/hit/16k', cacheable(16 * KIB, 0x62)],
  ['/hit/256k', cacheable(256 * KIB, 0x63)],
  ['/miss', { body: body1k, headers: { 'cache-control': 'no-store' } }],
  ['/miss-10ms', { body: body1k, headers: { 'cache-control': 'no-store' }, delayMs: BACKEND_DELAY_MS }],
  [
    '/stale',
    { body: body1k, headers: { 'cache-control': 'max-age=1, stale-while-revalidate=86400', age: '2' } },
  ],
])

const counts = new Map<string, number>()

const server = createServer((req, res) => {
  const path = req.url ?? '/'
  if (path === '/__counts') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(Object.fromEntries(counts)))
    return
  }
  const isFill = path.startsWith(FILL_PREFIX)
  // One count for every fill path: a map entry per path would grow with every request.
  const counted = isFill ? '/fill' : path
  counts.set(counted, (counts.get(counted) ?? 0) + 1)
  const route = isFill ? fill : routes.get(path)
  if (route === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10', 'cache-control': 'no-store' })
    res.end('not found\n')
    return
  }
  const answer = () => {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(route.body.length),
      ...route.headers,
    })
    res.end(route.body)
  }
  if (route.delayMs === undefined) answer()
  else setTimeout(answer, route.delayMs)
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
