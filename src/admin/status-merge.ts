/**
 * Sums node:cluster workers' status reports into one, for /status and /status.json. Pure:
 * no I/O, no clock, and only type imports, so the primary can load it without the app.
 *
 * How each figure adds up:
 * - requests, hits, lookups, bytes, rates, errors, evictions: summed (an eviction happens
 *   in the one process whose write made room). Ratios and percentiles are not merged at
 *   all: toSnapshot reads them from the summed counts and the summed latency bins (an
 *   average of p99s is no p99).
 * - the charts' history: samples of the same interval summed the same way
 *   (status-history.ts), since every worker samples on the same wall-clock boundaries.
 * - a memory store: one per worker, so entries, bytes and tags are summed.
 * - a shared store (redis, tiered): entries and bytes are summed too, because they are not
 *   the shared store's size as each worker sees it: each worker counts what its own writes
 *   and deletes did (redis-store.ts `stats()`), so the sum is the estimate of the whole,
 *   as `edgecache_cache_objects` sums it in /metrics. Tags are the largest of the workers'
 *   counts: a tag is distinct per worker, and two workers that wrote under one tag would
 *   count it twice. Either way these figures are approximate (entries Redis expires are
 *   not seen).
 * - the local store (`perHost`): every worker reads the same exact figures from the shared
 *   file, so the sum keeps the largest (the latest read), not the total.
 * - a store's bound and file size: summed for a store per worker (memory: each worker has
 *   its own `maxBytes`), the largest otherwise (one file, one bound, seen by every worker).
 * - uptime and version: the earliest worker's start; the version every worker runs.
 * - upstream state and last answer: the worker that heard from it last.
 * - a pool's servers: requests on them, connections, requests and failures in the window and
 *   ejections summed; the state the workers' common one, or `mixed` when they disagree
 *   (each worker checks and ejects on its own); the last error from the latest news.
 * - purges: one list, newest first, each id once (a purge is recorded in the worker that
 *   received it; the id keeps it single should it be recorded elsewhere too), with at most
 *   `maxPurges` asked for and `maxPurges` after unsafe methods, as each worker keeps them.
 */
import { type HistoryReport, mergeHistories } from './status-history.ts'
import {
  newestFirst,
  type PurgeStatus,
  type ServerStatus,
  type StatusCounts,
  type StatusReport,
  type StoreReport,
  type UpstreamStatus,
} from './status-snapshot.ts'

export interface MergeOptions {
  /** Recent purges of each kind kept in the sum. @default 20 (the tracker's default) */
  readonly maxPurges?: number
}

/**
 * One report summing `reports`, one per worker.
 *
 * @example
 * const sum = mergeStatusReports([reportOfWorker1, reportOfWorker2])
 * const snapshot = toSnapshot(sum, process.pid, true)
 */
export function mergeStatusReports(
  reports: readonly StatusReport[],
  options: MergeOptions = {},
): StatusReport {
  const [first] = reports
  if (first === undefined) throw new Error('status merge: no report to merge')
  const maxPurges = options.maxPurges ?? 20
  const routes = new Map<string, StatusCounts>()
  const stores = new Map<string, StoreReport>()
  const upstreams = new Map<string, UpstreamStatus>()
  // Keyed by pool and URL; a Map keeps the first worker's order, which is config order.
  const servers = new Map<string, ServerStatus>()
  const purges = new Map<string, PurgeStatus>()
  let counts = emptyCounts()
  let recentRequests = 0
  let windowBytes = 0
  const totals = { requests: 0, hits: 0, bytesFromCache: 0 }
  const histories: HistoryReport[] = []
  for (const r of reports) {
    histories.push(r.history)
    totals.requests += r.totals.requests
    totals.hits += r.totals.hits
    totals.bytesFromCache += r.totals.bytesFromCache
    counts = addCounts(counts, r.window.counts)
    recentRequests += r.window.recentRequests
    windowBytes += r.window.bytesFromCache
    for (const route of r.routes) {
      routes.set(route.name, addCounts(routes.get(route.name) ?? emptyCounts(), route.counts))
    }
    for (const store of r.stores) {
      const into = stores.get(store.name)
      stores.set(store.name, into === undefined ? { ...store } : addStore(into, store))
    }
    for (const upstream of r.upstreams) {
      const into = upstreams.get(upstream.name)
      upstreams.set(upstream.name, into === undefined ? { ...upstream } : addUpstream(into, upstream))
    }
    for (const server of r.servers) {
      const key = `${server.upstream}\0${server.url}`
      const into = servers.get(key)
      servers.set(key, into === undefined ? { ...server } : addServer(into, server))
    }
    for (const purge of r.purges) if (!purges.has(purge.id)) purges.set(purge.id, purge)
  }
  return {
    pids: reports.flatMap((r) => r.pids),
    at: Math.max(...reports.map((r) => r.at)),
    startedAt: Math.min(...reports.map((r) => r.startedAt)),
    version: first.version,
    node: first.node,
    // Every worker runs the same config, so one worker's window is every worker's.
    windowSeconds: first.windowSeconds,
    rateSeconds: first.rateSeconds,
    totals,
    window: { counts, recentRequests, bytesFromCache: windowBytes },
    routes: [...routes].map(([name, c]) => ({ name, counts: c })),
    stores: [...stores.values()],
    upstreams: [...upstreams.values()],
    servers: [...servers.values()],
    purges: newestOfEach([...purges.values()], maxPurges),
    history: mergeHistories(histories),
  }
}

/** Newest first, at most `max` asked for and `max` after unsafe methods (RFC 9111 §4.4). */
function newestOfEach(purges: PurgeStatus[], max: number): PurgeStatus[] {
  let asked = 0
  let afterUnsafe = 0
  return purges
    .sort(newestFirst)
    .filter((p) => (p.source === 'unsafe-method' ? ++afterUnsafe : ++asked) <= max)
    .map((p) => ({ ...p, kinds: [...p.kinds] }))
}

function emptyCounts(): StatusCounts {
  return { requests: 0, lookups: 0, hits: 0, errors5xx: 0, errors4xx: 0, bytes: 0, latency: [] }
}

/** Bin by bin: the histograms share their bounds (latency-histogram.ts). */
function addCounts(a: StatusCounts, b: StatusCounts): StatusCounts {
  const length = Math.max(a.latency.length, b.latency.length)
  return {
    requests: a.requests + b.requests,
    lookups: a.lookups + b.lookups,
    hits: a.hits + b.hits,
    errors5xx: a.errors5xx + b.errors5xx,
    errors4xx: a.errors4xx + b.errors4xx,
    bytes: a.bytes + b.bytes,
    latency: Array.from({ length }, (_, i) => (a.latency[i] ?? 0) + (b.latency[i] ?? 0)),
  }
}

function addStore(a: StoreReport, b: StoreReport): StoreReport {
  const shared = a.shared || b.shared
  // One bound and one file for every worker of a shared store; one bound each for the memory store.
  const add = shared ? Math.max : (x: number, y: number) => x + y
  const capacity = {
    ...both(a.maxBytes, b.maxBytes, (x, y) => ({ maxBytes: add(x, y) })),
    ...both(a.fileBytes, b.fileBytes, (x, y) => ({ fileBytes: Math.max(x, y) })),
  }
  const events = {
    evictions: a.evictions + b.evictions,
    evictionsTotal: a.evictionsTotal + b.evictionsTotal,
    errors: a.errors + b.errors,
  }
  if (a.perHost === true || b.perHost === true) {
    return {
      name: a.name,
      shared,
      perHost: true,
      entries: Math.max(a.entries, b.entries),
      bytes: Math.max(a.bytes, b.bytes),
      ...capacity,
      tags: Math.max(a.tags, b.tags),
      ...events,
    }
  }
  return {
    name: a.name,
    shared,
    entries: a.entries + b.entries,
    bytes: a.bytes + b.bytes,
    ...capacity,
    tags: shared ? Math.max(a.tags, b.tags) : a.tags + b.tags,
    ...events,
  }
}

/** `make(x, y)` when both workers have the figure, else nothing (one alone is not the sum). */
function both<T>(
  x: number | undefined,
  y: number | undefined,
  make: (x: number, y: number) => T,
): T | undefined {
  return x === undefined || y === undefined ? undefined : make(x, y)
}

function addUpstream(a: UpstreamStatus, b: UpstreamStatus): UpstreamStatus {
  // State and last answer come from whichever worker heard from the upstream last.
  const latest = (b.lastAt ?? Number.NEGATIVE_INFINITY) > (a.lastAt ?? Number.NEGATIVE_INFINITY) ? b : a
  return {
    name: a.name,
    state: latest.state,
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    lastStatus: latest.lastStatus,
    lastError: latest.lastError,
    lastAt: latest.lastAt,
  }
}

function addServer(a: ServerStatus, b: ServerStatus): ServerStatus {
  const latest = (b.lastAt ?? Number.NEGATIVE_INFINITY) > (a.lastAt ?? Number.NEGATIVE_INFINITY) ? b : a
  return {
    upstream: a.upstream,
    url: a.url,
    weight: a.weight,
    backup: a.backup,
    state: a.state === b.state ? a.state : 'mixed',
    active: a.active + b.active,
    connections: a.connections + b.connections,
    requests: a.requests + b.requests,
    failures: a.failures + b.failures,
    ejections: a.ejections + b.ejections,
    lastError: latest.lastError,
    lastAt: latest.lastAt,
  }
}
