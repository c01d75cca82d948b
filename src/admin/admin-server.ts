/**
 * The admin listener: a separate port for operators. For now it answers liveness
 * (`/health`) and readiness (`/ready`); invalidation, metrics and the status page join it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { StoreStats } from '../storage/store.ts'

export interface AdminServerDeps {
  /** Store figures shown by /ready. */
  storeStats(): StoreStats
  /** True once the proxy listener accepts connections. */
  isServing(): boolean
}

export interface AdminServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>
  close(): Promise<void>
}

export function createAdminServer(deps: AdminServerDeps): AdminServer {
  const server: Server = createServer((req, res) => route(req, res, deps))
  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          const address = server.address() as AddressInfo
          resolve({ host: address.address, port: address.port })
        })
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function route(req: IncomingMessage, res: ServerResponse, deps: AdminServerDeps): void {
  const path = (req.url ?? '/').split('?', 1)[0]
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' })
  if (path === '/health') return send(res, 200, { status: 'ok' })
  if (path === '/ready') {
    const serving = deps.isServing()
    return send(res, serving ? 200 : 503, {
      status: serving ? 'ready' : 'starting',
      store: { driver: 'memory', state: 'up', ...deps.storeStats() },
    })
  }
  send(res, 404, { error: 'not found' })
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}
