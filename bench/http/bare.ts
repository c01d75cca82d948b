/**
 * The baseline: a bare node:http server answering each request with a fixed buffer, 1 KiB
 * or, for `/hit/16k` and `/hit/256k`, a buffer of that size, so every hit case has a
 * yardstick of the same size. The proxy's hit path is measured against it. For the
 * compressed cases it sends the bytes a client gets: the page in Brotli (as edgecache stores
 * it, coded once at start) for `/hit/text-16k`, and as it is for `/hit/text-16k-decoded`.
 *
 * Runs as its own process: `--workers N` forks N node:cluster workers sharing one port,
 * as `edgecache --workers N` does (1: no cluster). Listens on an ephemeral loopback port
 * and prints `{"port":N}` on stdout once every worker listens.
 */
import cluster from 'node:cluster'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { brotliCompressSync, constants } from 'node:zlib'
import { textPage } from './text-body.ts'
import { serveOnLoopback, superviseWorkers } from './workers.ts'

const KIB = 1024
const { values } = parseArgs({ options: { workers: { type: 'string', default: '1' } } })
const workers = Number(values.workers)
if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: expected an integer ≥ 1`)

const page = textPage(16 * KIB)
const answers = new Map([
  ['/hit/16k', answer(Buffer.alloc(16 * KIB, 0x61))],
  ['/hit/256k', answer(Buffer.alloc(256 * KIB, 0x61))],
  [
    '/hit/text-16k',
    answer(brotliCompressSync(page, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }), {
      'content-type': 'text/html; charset=utf-8',
      'content-encoding': 'br',
    }),
  ],
  ['/hit/text-16k-decoded', answer(page, { 'content-type': 'text/html; charset=utf-8' })],
])
const fallback = answer(Buffer.alloc(KIB, 0x61))

function answer(
  body: Buffer,
  headers: Record<string, string> = { 'content-type': 'application/octet-stream' },
) {
  return { body, headers: { ...headers, 'content-length': String(body.length) } }
}

function serve(): void {
  const server = createServer((req, res) => {
    const { body, headers } = answers.get(req.url ?? '/') ?? fallback
    res.writeHead(200, headers)
    res.end(body)
  })
  serveOnLoopback(server)
}

if (workers > 1 && cluster.isPrimary) superviseWorkers(workers)
else serve()
