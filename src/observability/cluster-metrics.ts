/**
 * Metrics across node:cluster workers. Each worker counts what it served, but a scrape
 * reaches one worker and must answer with the sum over all of them. So the worker asks the
 * primary, which gathers every worker's registry through prom-client's AggregatorRegistry
 * (`relayMetrics` in src/workers.ts) and sends the text back. Outside a cluster worker the
 * local metrics answer as they are.
 */
import cluster from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import type { Metrics } from './metrics.ts'
import { isMetricsMessage, type MetricsMessage } from './metrics-messages.ts'

export { isMetricsMessage, type MetricsMessage }

/** What `GET /metrics` renders: this process's metrics, or the sum over the workers. */
export interface MetricsSource {
  readonly contentType: string
  /** The metrics in the Prometheus text format; rejects when the workers' sum cannot be had. */
  render(): Promise<string>
}

export interface ClusterMetrics extends MetricsSource {
  /** Stops listening for the primary's answers; scrapes waiting for one are rejected. */
  close(): void
}

/**
 * In a cluster worker: registers `local.registry` as the one this worker reports to the
 * primary, and renders by asking the primary for the sum. Elsewhere: renders `local`.
 *
 * @example
 * const metrics = createMetrics({ storeStats, storeName: 'memory', upstreamName: 'default' })
 * const scrape = createClusterMetrics(metrics)
 * createAdminServer({ ..., metrics: scrape })
 */
export function createClusterMetrics(local: Metrics, timeoutMs = 10_000): ClusterMetrics {
  const send = process.send?.bind(process)
  if (!cluster.isWorker || send === undefined) {
    return { contentType: local.contentType, render: () => local.render(), close() {} }
  }
  // prom-client answers the primary's requests from the registries set here, with a
  // listener it installs when the first AggregatorRegistry of the process is made.
  AggregatorRegistry.setRegistries([local.registry])
  new AggregatorRegistry()

  let nextId = 0
  const pending = new Map<number, { settle: (message: { text?: string; error?: string }) => void }>()
  const onMessage = (message: unknown) => {
    if (!isMetricsMessage(message) || message.type !== 'edgecache:metrics-result') return
    pending.get(message.id)?.settle(message)
  }
  process.on('message', onMessage)

  return {
    contentType: local.contentType,
    render() {
      const id = nextId++
      return new Promise<string>((resolve, reject) => {
        // Longer than prom-client's own 5 s wait in the primary, so its error comes first.
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error('the primary did not answer with the workers’ metrics in time'))
        }, timeoutMs)
        pending.set(id, {
          settle(message) {
            clearTimeout(timer)
            pending.delete(id)
            if (message.text !== undefined) resolve(message.text)
            else reject(new Error(message.error ?? 'the primary sent no metrics'))
          },
        })
        // A closed IPC channel reports through the callback rather than as an 'error' event.
        send({ type: 'edgecache:metrics', id }, undefined, undefined, (err: Error | null) => {
          if (err) pending.get(id)?.settle({ error: err.message })
        })
      })
    },
    close() {
      process.off('message', onMessage)
      for (const { settle } of pending.values()) settle({ error: 'closing' })
    },
  }
}
