/**
 * The messages a worker and the primary exchange to sum metrics over workers (see
 * cluster-metrics.ts and relayMetrics in src/workers.ts). A module of its own so that the
 * primary can read them without loading prom-client.
 */

/** Messages between a worker and the primary; `type` keeps them apart from other IPC. */
export type MetricsMessage =
  | { readonly type: 'edgecache:metrics'; readonly id: number }
  | {
      readonly type: 'edgecache:metrics-result'
      readonly id: number
      readonly text?: string
      readonly error?: string
    }

export function isMetricsMessage(message: unknown): message is MetricsMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('edgecache:metrics')
  )
}
