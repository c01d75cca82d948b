/**
 * The status page's data in its two forms. A `StatusReport` is what one process counted,
 * with the raw counts (hits, lookups, latency bins) that several reports can be summed
 * from (status-merge.ts); a `StatusSnapshot` is what /status.json answers, with ratios and
 * percentiles read from those counts by `toSnapshot`. Pure: no I/O, no clock.
 */
import type { InvalidationSource } from '../surrogate/invalidator.ts'
import { quantile } from './latency-histogram.ts'
import { type HistoryReport, type HistorySnapshot, historySnapshot } from './status-history.ts'

export interface RouteStatus {
  readonly name: string
  readonly requests: number
  /** Hits (fresh or stale) over requests that went through the cache; null with none. */
  readonly hitRatio: number | null
  readonly p99Ms: number | null
  /** Answers with a 5xx status. */
  readonly errors5xx: number
  /** Answers with a 4xx status (499: the client went away first). */
  readonly errors4xx: number
  /** Body bytes sent to clients. */
  readonly bytes: number
}

export interface StoreStatus {
  readonly name: string
  /** `degraded` after a storage error inside the window. */
  readonly state: 'up' | 'degraded'
  readonly entries: number
  /** Bytes stored, as the store counts them against `maxBytes`. */
  readonly bytes: number
  /** The store's bound (local: `storage.local.maxBytes`; memory: the sum over workers); null when it has none of its own (redis). */
  readonly maxBytes: number | null
  /** `bytes` over `maxBytes`; null without a bound. */
  readonly fill: number | null
  /** Size of the local store's file on disk; null for other stores. */
  readonly fileBytes: number | null
  readonly tags: number
  /** Entries evicted to make room inside the window. */
  readonly evictions: number
  /** Entries evicted to make room since the tracker started. */
  readonly evictionsTotal: number
  /** Storage errors inside the window. */
  readonly errors: number
}

export interface UpstreamStatus {
  readonly name: string
  /** From the last request sent to it: `unknown` before any. */
  readonly state: 'unknown' | 'up' | 'failing'
  /** Requests sent inside the window. */
  readonly requests: number
  /** Failures (refused, reset, timeout, bad response) inside the window. */
  readonly errors: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  /** Epoch ms of the last request's outcome. */
  readonly lastAt: number | null
}

/** One server of a pool: its state now, and what it was sent inside the window. */
export interface ServerStatus {
  /** The pool. */
  readonly upstream: string
  /** The server's origin. */
  readonly url: string
  readonly weight: number
  readonly backup: boolean
  /**
   * `up`: the pool may send it requests; `down`: its active checks fail; `ejected`: passive
   * checks keep it out for now; `mixed` (summed over workers): workers disagree, as each
   * checks and counts on its own.
   */
  readonly state: 'up' | 'down' | 'ejected' | 'mixed'
  /** Requests on it now, from sending until the response body ended. */
  readonly active: number
  /** Connections open to it now, busy or idle. */
  readonly connections: number
  /** Requests sent to it inside the window. */
  readonly requests: number
  /** Of those, the ones that got no answer: refused, reset, timed out or a bad response. */
  readonly failures: number
  /** Times passive checks ejected it since start. */
  readonly ejections: number
  /** The last failure of a check or request, while it lasts (cleared by a success). */
  readonly lastError: string | null
  /** Epoch ms of its last check or request outcome. */
  readonly lastAt: number | null
}

export interface PurgeStatus {
  /** Random, one per purge call: a purge seen in several workers' reports is shown once. */
  readonly id: string
  /** Epoch ms. */
  readonly at: number
  readonly kinds: readonly string[]
  readonly summary: string
  readonly purged: number
  readonly soft: boolean
  /**
   * Who asked: the admin API, the CLI (`edgecache purge`), the PURGE method, or the cache
   * itself after an unsafe method succeeded (RFC 9111 §4.4).
   */
  readonly source: InvalidationSource
}

export interface StatusSnapshot {
  /** The process that answered. */
  readonly pid: number
  /** Only with node:cluster workers: how many workers' figures are summed here. */
  readonly workers?: number
  /** Only with node:cluster workers: the pids of the workers summed. */
  readonly pids?: readonly number[]
  /** Epoch ms of the snapshot. */
  readonly at: number
  /** Epoch ms the tracker started; with workers, the earliest worker's start. */
  readonly startedAt: number
  /** Seconds from `startedAt` to `at`. */
  readonly uptimeSeconds: number
  /** edgecache's version (its package.json). */
  readonly version: string
  /** The Node.js version, as `process.version` says it. */
  readonly node: string
  readonly windowSeconds: number
  readonly rateSeconds: number
  /** Since the tracker started. */
  readonly totals: StatusTotals
  /** Inside the window. */
  readonly window: {
    readonly requests: number
    readonly requestsPerSecond: number
    readonly hitRatio: number | null
    readonly bytesFromCache: number
    readonly p50Ms: number | null
    readonly p99Ms: number | null
    readonly errors5xx: number
    readonly errors4xx: number
    /** Body bytes sent to clients. */
    readonly bytes: number
  }
  /** Per interval over the last hour, for the charts. */
  readonly history: HistorySnapshot
  /** Busiest first. */
  readonly routes: readonly RouteStatus[]
  readonly stores: readonly StoreStatus[]
  readonly upstreams: readonly UpstreamStatus[]
  /** Every server of every pool, in pool and config order. */
  readonly servers: readonly ServerStatus[]
  /** Newest first. */
  readonly purges: readonly PurgeStatus[]
}

export interface StatusTotals {
  readonly requests: number
  readonly hits: number
  readonly bytesFromCache: number
}

/** Raw counts a ratio and percentiles are read from; they add up across processes. */
export interface StatusCounts {
  readonly requests: number
  /** Requests that went through the cache (a cache outcome was recorded). */
  readonly lookups: number
  /** Hits, fresh or stale. */
  readonly hits: number
  /** Latency histogram bins, as latency-histogram.ts defines them. */
  readonly latency: readonly number[]
  readonly errors5xx: number
  readonly errors4xx: number
  readonly bytes: number
}

export interface StoreReport {
  readonly name: string
  /**
   * The store is shared by every process (redis, tiered), not one per process (memory).
   * Decides how reports are summed (status-merge.ts).
   */
  readonly shared: boolean
  /**
   * Every process reads the same exact figures (the local store in a cache directory), so
   * a sum over workers keeps one of them. @default false
   */
  readonly perHost?: boolean
  readonly entries: number
  readonly bytes: number
  /** The bound this process sees; absent when the store has none of its own (redis). */
  readonly maxBytes?: number
  /** The local store's file size; absent for other stores. */
  readonly fileBytes?: number
  readonly tags: number
  readonly evictions: number
  readonly evictionsTotal: number
  readonly errors: number
}

/** What one process, or the sum over workers, counted. Plain JSON: it crosses IPC. */
export interface StatusReport {
  /** The processes whose figures these are. */
  readonly pids: readonly number[]
  readonly at: number
  readonly startedAt: number
  readonly version: string
  readonly node: string
  readonly windowSeconds: number
  readonly rateSeconds: number
  readonly totals: StatusTotals
  readonly window: {
    readonly counts: StatusCounts
    /** Requests inside the last `rateSeconds`. */
    readonly recentRequests: number
    readonly bytesFromCache: number
  }
  /** In no particular order. */
  readonly routes: readonly { readonly name: string; readonly counts: StatusCounts }[]
  readonly stores: readonly StoreReport[]
  readonly upstreams: readonly UpstreamStatus[]
  /** Every server of every pool, in pool and config order. */
  readonly servers: readonly ServerStatus[]
  /** Newest first. */
  readonly purges: readonly PurgeStatus[]
  readonly history: HistoryReport
}

/**
 * The snapshot /status.json answers with. `summed` marks a report summed over node:cluster
 * workers: the snapshot then says how many and which; a single process's has no such fields.
 *
 * @example
 * sendJson(res, 200, toSnapshot(tracker.report(), process.pid, false))
 */
export function toSnapshot(report: StatusReport, pid: number, summed: boolean): StatusSnapshot {
  const { counts } = report.window
  return {
    pid,
    ...(summed ? { workers: report.pids.length, pids: [...report.pids] } : {}),
    at: report.at,
    startedAt: report.startedAt,
    uptimeSeconds: Math.max(0, Math.floor((report.at - report.startedAt) / 1000)),
    version: report.version,
    node: report.node,
    windowSeconds: report.windowSeconds,
    rateSeconds: report.rateSeconds,
    totals: { ...report.totals },
    window: {
      requests: counts.requests,
      requestsPerSecond: report.window.recentRequests / report.rateSeconds,
      hitRatio: ratio(counts),
      bytesFromCache: report.window.bytesFromCache,
      p50Ms: quantile(counts.latency, 0.5),
      p99Ms: quantile(counts.latency, 0.99),
      errors5xx: counts.errors5xx,
      errors4xx: counts.errors4xx,
      bytes: counts.bytes,
    },
    history: historySnapshot(report.history),
    routes: report.routes
      .map(({ name, counts }) => ({
        name,
        requests: counts.requests,
        hitRatio: ratio(counts),
        p99Ms: quantile(counts.latency, 0.99),
        errors5xx: counts.errors5xx,
        errors4xx: counts.errors4xx,
        bytes: counts.bytes,
      }))
      .sort((a, b) => b.requests - a.requests || (a.name < b.name ? -1 : 1)),
    stores: report.stores.map((s) => ({
      name: s.name,
      state: s.errors > 0 ? 'degraded' : 'up',
      entries: s.entries,
      bytes: s.bytes,
      maxBytes: s.maxBytes ?? null,
      fill: s.maxBytes === undefined || s.maxBytes <= 0 ? null : s.bytes / s.maxBytes,
      fileBytes: s.fileBytes ?? null,
      tags: s.tags,
      evictions: s.evictions,
      evictionsTotal: s.evictionsTotal,
      errors: s.errors,
    })),
    upstreams: report.upstreams.map((u) => ({ ...u })),
    servers: report.servers.map((server) => ({ ...server })),
    purges: report.purges.map((p) => ({ ...p, kinds: [...p.kinds] })),
  }
}

function ratio(counts: StatusCounts): number | null {
  return counts.lookups === 0 ? null : counts.hits / counts.lookups
}

/** Newest first; ties (one millisecond) by id, so every worker and the sum agree on the order. */
export function newestFirst(a: PurgeStatus, b: PurgeStatus): number {
  return b.at - a.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}
