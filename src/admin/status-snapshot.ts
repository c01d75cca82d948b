/**
 * The status page's data in its two forms. A `StatusReport` is what one process counted,
 * with the raw counts (hits, lookups, latency bins) that several reports can be summed
 * from (status-merge.ts); a `StatusSnapshot` is what /status.json answers, with ratios and
 * percentiles read from those counts by `toSnapshot`. Pure: no I/O, no clock.
 */
import { quantile } from './latency-histogram.ts'

export interface RouteStatus {
  readonly name: string
  readonly requests: number
  /** Hits (fresh or stale) over requests that went through the cache; null with none. */
  readonly hitRatio: number | null
  readonly p99Ms: number | null
}

export interface StoreStatus {
  readonly name: string
  /** `degraded` after a storage error inside the window. */
  readonly state: 'up' | 'degraded'
  readonly entries: number
  readonly bytes: number
  readonly tags: number
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

export interface PurgeStatus {
  /** Random, one per purge call: a purge seen in several workers' reports is shown once. */
  readonly id: string
  /** Epoch ms. */
  readonly at: number
  readonly kinds: readonly string[]
  readonly summary: string
  readonly purged: number
  readonly soft: boolean
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
  readonly startedAt: number
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
  }
  /** Busiest first. */
  readonly routes: readonly RouteStatus[]
  readonly stores: readonly StoreStatus[]
  readonly upstreams: readonly UpstreamStatus[]
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
  readonly tags: number
  readonly errors: number
}

/** What one process, or the sum over workers, counted. Plain JSON: it crosses IPC. */
export interface StatusReport {
  /** The processes whose figures these are. */
  readonly pids: readonly number[]
  readonly at: number
  readonly startedAt: number
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
  /** Newest first. */
  readonly purges: readonly PurgeStatus[]
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
    },
    routes: report.routes
      .map(({ name, counts }) => ({
        name,
        requests: counts.requests,
        hitRatio: ratio(counts),
        p99Ms: quantile(counts.latency, 0.99),
      }))
      .sort((a, b) => b.requests - a.requests || (a.name < b.name ? -1 : 1)),
    stores: report.stores.map((s) => ({
      name: s.name,
      state: s.errors > 0 ? 'degraded' : 'up',
      entries: s.entries,
      bytes: s.bytes,
      tags: s.tags,
      errors: s.errors,
    })),
    upstreams: report.upstreams.map((u) => ({ ...u })),
    purges: report.purges.map((p) => ({ ...p, kinds: [...p.kinds] })),
  }
}

function ratio(counts: StatusCounts): number | null {
  return counts.lookups === 0 ? null : counts.hits / counts.lookups
}
