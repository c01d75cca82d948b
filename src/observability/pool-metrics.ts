/**
 * The metrics of upstream pools beyond the per-request ones in metrics.ts: each server's
 * availability and requests in progress (read at scrape time), retries and the budget's
 * refusals, replays after the keep-alive race, requests refused without trying a server, and servers ejected or marked down
 * and up by their checks. Labels are pool names and servers' `host:port` from config, so
 * they stay bounded, and hold no URL.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Counter, Gauge, type Registry } from 'prom-client'
import {
  events,
  type UpstreamRejected,
  type UpstreamReplay,
  type UpstreamRetry,
  type UpstreamServerChange,
} from './events.ts'

/** One server as the gauges read it. */
export interface PoolServerView {
  readonly upstream: string
  readonly server: string
  readonly available: boolean
  readonly active: number
}

export interface PoolMetricsOptions {
  /** Every server of every pool, read at each scrape. */
  servers(): readonly PoolServerView[]
  /** The pools' names, so their counters start at 0. */
  readonly pools: readonly string[]
}

/**
 * Registers the pool metrics on `registry` and subscribes to the pool channels; the
 * function returned unsubscribes.
 *
 * @example const stop = registerPoolMetrics(registry, { servers: () => pools.servers(), pools: ['app'] })
 */
export function registerPoolMetrics(registry: Registry, options: PoolMetricsOptions): () => void {
  const registers = [registry]
  new Gauge({
    name: 'edgecache_upstream_server_up',
    help: 'Whether a server of a pool may be sent requests now (1) or is down or ejected (0); the lowest over workers.',
    labelNames: ['upstream', 'server'],
    aggregator: 'min',
    registers,
    collect() {
      this.reset()
      for (const s of options.servers())
        this.set({ upstream: s.upstream, server: hostOf(s.server) }, s.available ? 1 : 0)
    },
  })
  new Gauge({
    name: 'edgecache_upstream_server_active_requests',
    help: 'Requests on a server now, from sending until the response body ended; summed over workers.',
    labelNames: ['upstream', 'server'],
    registers,
    collect() {
      this.reset()
      for (const s of options.servers())
        this.set({ upstream: s.upstream, server: hostOf(s.server) }, s.active)
    },
  })
  const retries = new Counter({
    name: 'edgecache_upstream_retries_total',
    help: 'Requests tried again on another server (retried), or not because the retry budget was spent (over_budget).',
    labelNames: ['upstream', 'result'],
    registers,
  })
  const replays = new Counter({
    name: 'edgecache_upstream_replays_total',
    help: 'Idempotent requests sent again after a reused keep-alive connection closed before any response byte (not retries).',
    labelNames: ['upstream'],
    registers,
  })
  const rejected = new Counter({
    name: 'edgecache_upstream_rejected_total',
    help: 'Requests answered 503 without trying a server: none available (unavailable) or the pool’s queue full (busy).',
    labelNames: ['upstream', 'reason'],
    registers,
  })
  const changes = new Counter({
    name: 'edgecache_upstream_server_changes_total',
    help: 'Servers ejected by passive checks (ejected), or marked down or up by active checks.',
    labelNames: ['upstream', 'server', 'change'],
    registers,
  })
  for (const upstream of options.pools) {
    for (const result of ['retried', 'over_budget']) retries.inc({ upstream, result }, 0)
    replays.inc({ upstream }, 0)
    for (const reason of ['unavailable', 'busy']) rejected.inc({ upstream, reason }, 0)
  }
  const subscriptions: [string, (message: unknown) => void][] = [
    [
      events.upstreamRetry.name as string,
      (message) => {
        const m = message as UpstreamRetry
        retries.inc({ upstream: m.upstream, result: m.result.replace('-', '_') })
      },
    ],
    [
      events.upstreamReplay.name as string,
      (message) => {
        replays.inc({ upstream: (message as UpstreamReplay).upstream })
      },
    ],
    [
      events.upstreamRejected.name as string,
      (message) => {
        const m = message as UpstreamRejected
        rejected.inc({ upstream: m.upstream, reason: m.reason })
      },
    ],
    [
      events.upstreamServerChange.name as string,
      (message) => {
        const m = message as UpstreamServerChange
        changes.inc({ upstream: m.upstream, server: hostOf(m.server), change: m.change })
      },
    ],
  ]
  for (const [name, onMessage] of subscriptions) subscribe(name, onMessage)
  return () => {
    for (const [name, onMessage] of subscriptions) unsubscribe(name, onMessage)
  }
}

/** `http://10.0.0.1:8080` → `10.0.0.1:8080`: the server without its scheme. */
function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : url
}
