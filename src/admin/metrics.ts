/**
 * `GET /metrics` on the admin listener: the Prometheus text format, summed over workers
 * when there are several. No token: like /health, it is meant for a private network, and
 * the admin listener binds 127.0.0.1 unless told otherwise. It renders and never counts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { MetricsSource } from '../observability/cluster-metrics.ts'
import type { AdminLog } from './invalidate.ts'
import { EdgecacheError } from '../errors.ts'
import { sendError } from './json-reply.ts'

export interface MetricsHandlerDeps {
  readonly metrics: MetricsSource
  readonly log: AdminLog
}

/**
 * @example
 * const handle = createMetricsHandler({ metrics: createClusterMetrics(createMetrics(options)), log })
 * // in the admin route table: ['/metrics', { GET: handle, HEAD: handle }]
 */
export function createMetricsHandler(
  deps: MetricsHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { metrics, log } = deps
  return async (_req, res) => {
    let text: string
    try {
      text = await metrics.render()
    } catch (err) {
      // The workers' sum could not be had (a worker did not answer in time): say so rather
      // than show one worker's figures as if they were the whole.
      log.warn({ err }, 'metrics scrape failed')
      return sendError(res, new EdgecacheError('EC_ERR_ADMIN_METRICS_UNAVAILABLE'))
    }
    res.writeHead(200, {
      'content-type': metrics.contentType,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    })
    res.end(text)
  }
}
