/**
 * The admin listener: a separate port for operators. It answers liveness (`/health`),
 * readiness (`/ready`) and invalidation (`POST /invalidate`); metrics and the status page
 * join it. This file is the route table and the listener; each endpoint lives in its own
 * module.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ReloadReport, ReloadScope } from '../reload/reload-report.ts'
import { EdgecacheError } from '../errors.ts'
import type { MetricsSource } from '../observability/cluster-metrics.ts'
import type { Invalidator } from '../surrogate/invalidator.ts'
import { type AdminLog, createInvalidateHandler } from './invalidate.ts'
import { sendError, sendJson } from './json-reply.ts'
import type { TokenSource } from './bearer-auth.ts'
import { createMetricsHandler } from './metrics.ts'
import { createReloadHandler } from './reload.ts'
import type { StatusSource } from './cluster-status.ts'
import { createStatusPageHandlers } from './status-page.ts'

export type { AdminLog } from './invalidate.ts'

export interface AdminServerDeps {
  /** What `GET /ready` reports: 200 when `ready`, else 503, with `report` as the JSON body. */
  readiness(): Readiness
  /** Carries out `POST /invalidate`. */
  readonly invalidator: Invalidator
  /** Bearer tokens accepted by `POST /invalidate`; none means it answers 403. Secrets. */
  readonly tokens: TokenSource
  /** For purges, refused requests and failures; never given a token. */
  readonly log: AdminLog
  /** Renders `GET /metrics` (no token: the admin listener is for a private network); without it that path is 404. */
  readonly metrics?: MetricsSource
  /**
   * Figures for `GET /status` (the page) and `GET /status.json`, summed over workers when
   * there are several; without it those paths are 404.
   */
  readonly status?: StatusSource
  /**
   * Reloads, in every worker: the whole config for `POST /reload`, the route file for
   * `POST /routes/reload`. Without it both paths are 404.
   */
  readonly reload?: (scope: ReloadScope, trigger: 'admin') => Promise<ReloadReport>
}

export interface Readiness {
  readonly ready: boolean
  readonly report: object
}

export interface AdminServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>
  close(): Promise<void>
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

/** Path → method → handler. Every method of a path is listed, so a 405 can name them. */
type RouteTable = ReadonlyMap<string, Readonly<Record<string, Handler>>>

/**
 * @example
 * const admin = createAdminServer({ readiness, invalidator, tokens: config.admin.tokens, log })
 * await admin.listen('127.0.0.1', 9091)
 */
export function createAdminServer(deps: AdminServerDeps): AdminServer {
  const health: Handler = (_req, res) => sendJson(res, 200, { status: 'ok' })
  const ready: Handler = (_req, res) => {
    const { ready, report } = deps.readiness()
    sendJson(res, ready ? 200 : 503, report)
  }
  const status =
    deps.status === undefined ? undefined : createStatusPageHandlers({ status: deps.status, log: deps.log })
  const metrics =
    deps.metrics === undefined ? undefined : createMetricsHandler({ metrics: deps.metrics, log: deps.log })
  const routes: RouteTable = new Map<string, Record<string, Handler>>([
    ['/health', { GET: health, HEAD: health }],
    ['/ready', { GET: ready, HEAD: ready }],
    ...(metrics === undefined ? [] : ([['/metrics', { GET: metrics, HEAD: metrics }]] as const)),
    [
      '/invalidate',
      {
        POST: createInvalidateHandler({ invalidator: deps.invalidator, tokens: deps.tokens, log: deps.log }),
      },
    ],
    ...(deps.reload === undefined
      ? []
      : ([
          [
            '/reload',
            {
              POST: createReloadHandler({
                reload: deps.reload,
                scope: 'config',
                tokens: deps.tokens,
                log: deps.log,
              }),
            },
          ],
          [
            '/routes/reload',
            {
              POST: createReloadHandler({
                reload: deps.reload,
                scope: 'routes',
                tokens: deps.tokens,
                log: deps.log,
              }),
            },
          ],
        ] as const)),
    ...(status === undefined
      ? []
      : ([
          ['/status', { GET: status.page, HEAD: status.page }],
          ['/status.json', { GET: status.json, HEAD: status.json }],
        ] as const)),
  ])

  // A request must arrive whole within this long; purges themselves may take longer.
  const server: Server = createServer({ requestTimeout: 30_000 }, (req, res) => {
    dispatch(routes, req, res).catch((err: unknown) => {
      deps.log.error({ err, method: req.method, path: pathOf(req) }, 'admin request failed')
      if (!res.headersSent) sendError(res, new EdgecacheError('EC_ERR_INTERNAL'))
      else res.destroy()
    })
  })
  // Expect: 100-continue: node would send the 100 at once, inviting any client to send its
  // body. It goes out only when a handler starts reading the body, after its token and
  // size checks; a request refused before that gets its refusal and no invitation.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    req.once('resume', () => {
      if (!res.headersSent) res.writeContinue()
    })
    server.emit('request', req, res)
  })
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

async function dispatch(routes: RouteTable, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = pathOf(req)
  const methods = routes.get(path)
  if (methods === undefined) return sendError(res, new EdgecacheError('EC_ERR_ADMIN_NOT_FOUND', [path]))
  const method = req.method ?? 'GET'
  const handler = Object.hasOwn(methods, method) ? methods[method] : undefined
  if (handler === undefined) {
    const allowed = Object.keys(methods).join(', ')
    return sendError(res, new EdgecacheError('EC_ERR_ADMIN_METHOD_NOT_ALLOWED', [method, path, allowed]), {
      allow: allowed,
    })
  }
  await handler(req, res)
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?', 1)[0] ?? '/'
}
