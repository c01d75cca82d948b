/**
 * The yardstick for the miss path: a node:http server that forwards every request to the
 * origin through an undici Pool (`dispatch`, as edgecache's upstream does) and answers with
 * the whole response, dropping the hop-by-hop fields. Request bodies are not sent on: the
 * miss cases are GETs. No cache, routes, limits, logs or
 * metrics: what the same two libraries cost a proxy with nothing else to do.
 *
 * Runs as its own process: `--upstream URL --workers N`; with N > 1 the workers accept
 * from the shared socket themselves, as edgecache's do. Listens on an ephemeral loopback
 * port and prints `{"port":N}` on stdout once every worker listens.
 */
import cluster from 'node:cluster'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { parseArgs } from 'node:util'
import { type Dispatcher, Pool } from 'undici'
import { serveOnLoopback, superviseWorkers } from './workers.ts'

const { values } = parseArgs({
  options: { workers: { type: 'string', default: '1' }, upstream: { type: 'string' } },
})
const workers = Number(values.workers)
if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers: expected an integer ≥ 1')
const upstream = values.upstream
if (upstream === undefined) throw new Error('--upstream: the origin URL is required')

/** RFC 9110 §7.6.1: fields about one connection, not passed on. */
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'])

function forwardable(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name)) out[name] = value
  }
  return out
}

function serve(origin: string): void {
  const pool = new Pool(origin, { connections: 64 })
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    let status = 502
    let headers: Record<string, string | string[]> = {}
    const handler: Dispatcher.DispatchHandler = {
      // undici takes a handler with onRequestStart for one of its current interface.
      onRequestStart() {},
      onResponseStart(_controller, statusCode, fields) {
        status = statusCode
        headers = forwardable(fields)
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk)
      },
      onResponseEnd() {
        res.writeHead(status, headers)
        res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
      },
      onResponseError() {
        res.writeHead(502, { 'content-length': '0' })
        res.end()
      },
    }
    pool.dispatch(
      { method: req.method ?? 'GET', path: req.url ?? '/', headers: forwardable(req.headers) },
      handler,
    )
  })
  serveOnLoopback(server, () => pool.close())
}

if (workers > 1 && cluster.isPrimary) superviseWorkers(workers, true)
else serve(upstream)
