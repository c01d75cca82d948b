/**
 * The numbers behind the status page: a rolling window of per-second buckets fed by the
 * diagnostics channels (requests, upstream answers, evictions, storage errors, purges), and
 * an hour of per-interval samples for the charts (status-history.ts). Memory stays
 * bounded whatever the traffic: a fixed number of buckets, a fixed-size latency histogram
 * per bucket and per route, at most `maxRoutes` route names (the rest share one row), at
 * most `maxPurges` recent purges of each kind (asked for, and RFC 9111 §4.4's after unsafe
 * methods), 360 history samples, and the requests and failures of at most 1,024 servers per
 * bucket (servers come from config). Route names only: never a URL or a tag, except the short
 * purge summary the invalidation event carries. With the defaults the worst case is about
 * 2 MB (60 buckets × 101 routes × a 192-byte histogram). It only observes; it never changes
 * a response.
 *
 * Each process keeps its own numbers; `report()` hands them out raw, so that with several
 * workers the primary can sum them (status-merge.ts, cluster-status.ts).
 */
import type { Clock } from '../clock.ts'
import {
  type CacheEvicted,
  events,
  type Invalidation,
  type RequestFinished,
  type StorageError,
  type UpstreamFinished,
} from '../observability/events.ts'
import type { StoreStats } from '../storage/store.ts'
import { binOf } from './latency-histogram.ts'
import {
  addCounts,
  type Counts,
  count,
  newCounts,
  rawCounts,
  resetCounts,
  type Seen,
} from './status-counts.ts'
import { createHistory } from './status-history.ts'
import {
  newestFirst,
  type PurgeStatus,
  type ServerStatus,
  type StatusReport,
  type StatusSnapshot,
  toSnapshot,
  type UpstreamStatus,
} from './status-snapshot.ts'

export type {
  PurgeStatus,
  RouteStatus,
  ServerStatus,
  StatusReport,
  StatusSnapshot,
  StoreStatus,
  UpstreamStatus,
} from './status-snapshot.ts'

export interface StatusTrackerOptions {
  readonly clock: Clock
  /** Figures of the cache store, read when a snapshot is taken. */
  storeStats(): StoreStats
  /**
   * The store's bound and, for the local store, its file size, read when a snapshot is
   * taken; absent for a store without a bound of its own (redis).
   */
  storeCapacity?(): { readonly maxBytes: number; readonly fileBytes?: number }
  /** edgecache's version, shown on the page. */
  readonly version: string
  /**
   * Every server of every pool as it is now (state, requests on it, connections), read when
   * a snapshot is taken; the tracker adds what each was sent inside the window. @default none
   */
  servers?(): readonly ServerState[]
  /** The upstream listed before any request has reached it (the name it publishes under). */
  readonly upstreamName: string
  /** The store's name, as storage errors are published under. @default 'memory' */
  readonly storeName?: string
  /** The store is shared by every process (redis, tiered), not one per process. @default false */
  readonly storeShared?: boolean
  /** Every worker reads the store's exact figures (the local store). @default false */
  readonly storePerHost?: boolean
  /** Seconds of history the window keeps. @default 60 */
  readonly windowSeconds?: number
  /** Seconds the requests-per-second figure averages over. @default 10 */
  readonly rateSeconds?: number
  /** Distinct route names tracked; later ones are counted under `(other routes)`. @default 100 */
  readonly maxRoutes?: number
  /**
   * Recent purges kept of each kind: those asked for (admin API, CLI, PURGE method), and
   * those after unsafe methods, so a busy form does not push the operators' purges out.
   * @default 20
   */
  readonly maxPurges?: number
  /** Seconds each history sample (a point on the charts) covers. @default 10 */
  readonly historyIntervalSeconds?: number
  /** Seconds of history the charts show; a multiple of the interval. @default 3600 */
  readonly historySeconds?: number
}

/** A server as its pool reports it now: its status row without the window's counts. */
export type ServerState = Omit<ServerStatus, 'requests' | 'failures'>

export interface StatusTracker {
  /** This process's figures, as /status.json shows them. */
  snapshot(): StatusSnapshot
  /** This process's figures with the raw counts, for summing over workers. */
  report(): StatusReport
  /** Stops listening to the channels. */
  close(): void
}

/** Where routes past `maxRoutes` are counted. Parentheses cannot start a configured route name. */
export const otherRoutes = '(other routes)'

/** Longest purge summary kept (characters); a longer one is cut, so 20 purges stay small. */
const maxSummary = 500

/** Most upstream names tracked: names come from config, this only guards against surprises. */
const maxUpstreams = 32

/** Most servers counted per bucket: servers come from config, this only guards against surprises. */
const maxServers = 1024

/** A server's key in the window's counts: its pool and URL (a URL has no NUL). */
const serverKey = (upstream: string, url: string) => `${upstream}\0${url}`

interface Bucket {
  /** Epoch second this bucket counts; a bucket from an older second is reset before use. */
  second: number
  readonly all: Counts
  bytesFromCache: number
  evictions: number
  readonly routes: Map<string, Counts>
  readonly upstreams: Map<string, { requests: number; errors: number }>
  /** By serverKey. */
  readonly servers: Map<string, { requests: number; errors: number }>
  readonly storageErrors: Map<string, number>
}

function checkPositiveInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`status tracker: ${field} must be a positive integer, got ${value}`)
  }
}

/**
 * Subscribes to the diagnostics channels and keeps the status page's figures.
 *
 * @example
 * const status = createStatusTracker({ clock, storeStats: () => store.stats(), upstreamName: 'default' })
 * createAdminServer({ ..., status })
 * // on shutdown
 * status.close()
 */
export function createStatusTracker(options: StatusTrackerOptions): StatusTracker {
  const windowSeconds = options.windowSeconds ?? 60
  const rateSeconds = options.rateSeconds ?? 10
  const maxRoutes = options.maxRoutes ?? 100
  const maxPurges = options.maxPurges ?? 20
  const historyIntervalSeconds = options.historyIntervalSeconds ?? 10
  const historySeconds = options.historySeconds ?? 3600
  checkPositiveInteger('windowSeconds', windowSeconds)
  checkPositiveInteger('rateSeconds', rateSeconds)
  checkPositiveInteger('maxRoutes', maxRoutes)
  checkPositiveInteger('maxPurges', maxPurges)
  checkPositiveInteger('historyIntervalSeconds', historyIntervalSeconds)
  checkPositiveInteger('historySeconds', historySeconds)
  if (historySeconds % historyIntervalSeconds !== 0) {
    throw new Error(
      `status tracker: historySeconds must be a multiple of historyIntervalSeconds (${historyIntervalSeconds}), got ${historySeconds}`,
    )
  }
  if (rateSeconds > windowSeconds) {
    throw new Error(
      `status tracker: rateSeconds must be at most windowSeconds (${windowSeconds}), got ${rateSeconds}`,
    )
  }
  const { clock, storeStats } = options
  const storeName = options.storeName ?? 'memory'
  const startedAt = clock.now()
  const history = createHistory({
    intervalSeconds: historyIntervalSeconds,
    intervals: historySeconds / historyIntervalSeconds,
    startedAt,
  })

  const buckets: Bucket[] = Array.from({ length: windowSeconds }, () => ({
    second: Number.NEGATIVE_INFINITY,
    all: newCounts(),
    bytesFromCache: 0,
    evictions: 0,
    routes: new Map(),
    upstreams: new Map(),
    servers: new Map(),
    storageErrors: new Map(),
  }))
  const knownRoutes = new Set<string>()
  const totals = { requests: 0, hits: 0, bytesFromCache: 0 }
  let evictionsTotal = 0
  const upstreamLast = new Map<string, { status: number | null; error: string | null; at: number }>()
  // Newest first, each list bounded: the operators' purges, and RFC 9111 §4.4's.
  const asked: PurgeStatus[] = []
  const afterUnsafe: PurgeStatus[] = []

  function current(now = clock.now()): Bucket {
    const second = Math.floor(now / 1000)
    const bucket = buckets[((second % windowSeconds) + windowSeconds) % windowSeconds] as Bucket
    if (bucket.second !== second) {
      bucket.second = second
      resetCounts(bucket.all)
      bucket.bytesFromCache = 0
      bucket.evictions = 0
      bucket.routes.clear()
      bucket.upstreams.clear()
      bucket.servers.clear()
      bucket.storageErrors.clear()
    }
    return bucket
  }

  function routeName(name: string): string {
    if (knownRoutes.has(name)) return name
    if (knownRoutes.size >= maxRoutes) return otherRoutes
    knownRoutes.add(name)
    return name
  }

  const onRequest = (message: unknown) => {
    const m = message as RequestFinished
    // One clock read for the window and the history: each costs a call into V8's runtime.
    const now = clock.now()
    const bucket = current(now)
    const name = routeName(m.route)
    const route = entry(bucket.routes, name, newCounts)
    const bin = binOf(m.totalMs)
    const lookup = m.cache !== undefined
    const hit = m.cache === 'hit' || m.cache === 'stale'
    // Bytes whose body came from the cache: a revalidated answer's body did too (the backend sent a 304).
    const fromCache = hit || m.cache === 'revalidated'
    // A subscriber must not throw (it would surface as an uncaught exception) nor store NaN.
    const bytes = Number.isFinite(m.bytes) ? m.bytes : 0
    const seen: Seen = { lookup, hit, bin, status: m.status, bytes }
    count(bucket.all, seen)
    count(route, seen)
    history.record(now, lookup, hit, bin)
    totals.requests++
    if (hit) totals.hits++
    if (fromCache && Number.isFinite(m.bytes)) {
      bucket.bytesFromCache += m.bytes
      totals.bytesFromCache += m.bytes
    }
  }

  const onUpstream = (message: unknown) => {
    const m = message as UpstreamFinished
    if (!upstreamLast.has(m.upstream) && upstreamLast.size >= maxUpstreams) return
    upstreamLast.set(m.upstream, { status: m.status ?? null, error: m.error ?? null, at: clock.now() })
    const bucket = current()
    const counts = entry(bucket.upstreams, m.upstream, () => ({ requests: 0, errors: 0 }))
    counts.requests++
    if (m.error !== undefined) counts.errors++
    if (m.server === undefined) return
    const key = serverKey(m.upstream, m.server)
    if (!bucket.servers.has(key) && bucket.servers.size >= maxServers) return
    const server = entry(bucket.servers, key, () => ({ requests: 0, errors: 0 }))
    server.requests++
    if (m.error !== undefined) server.errors++
  }

  const onStorageError = (message: unknown) => {
    const m = message as StorageError
    const bucket = current()
    if (!bucket.storageErrors.has(m.store) && bucket.storageErrors.size >= maxUpstreams) return
    bucket.storageErrors.set(m.store, (bucket.storageErrors.get(m.store) ?? 0) + 1)
  }

  const onEvicted = (message: unknown) => {
    // Only entries evicted to make room: expiry, purges and replacement are not the store being full.
    if ((message as CacheEvicted).reason !== 'evict') return
    current().evictions++
    evictionsTotal++
  }

  const onInvalidation = (message: unknown) => {
    const m = message as Invalidation
    const summary = m.summary.length > maxSummary ? `${m.summary.slice(0, maxSummary - 1)}…` : m.summary
    const list = m.source === 'unsafe-method' ? afterUnsafe : asked
    list.unshift({
      id: m.id,
      at: m.at,
      kinds: [...m.kinds],
      summary,
      purged: m.purged,
      soft: m.soft,
      source: m.source,
    })
    if (list.length > maxPurges) list.length = maxPurges
  }

  events.requestFinished.subscribe(onRequest)
  events.upstreamFinished.subscribe(onUpstream)
  events.storageError.subscribe(onStorageError)
  events.cacheEvicted.subscribe(onEvicted)
  events.invalidation.subscribe(onInvalidation)

  const tracker: StatusTracker = {
    snapshot: () => toSnapshot(tracker.report(), process.pid, false),
    report() {
      const now = clock.now()
      const second = Math.floor(now / 1000)
      const all = newCounts()
      let windowBytes = 0
      let windowEvictions = 0
      let recent = 0
      const routes = new Map<string, Counts>()
      const upstreams = new Map<string, { requests: number; errors: number }>()
      const servers = new Map<string, { requests: number; errors: number }>()
      const storageErrors = new Map<string, number>()
      for (const bucket of buckets) {
        const age = second - bucket.second
        if (!(age >= 0 && age < windowSeconds)) continue
        addCounts(all, bucket.all)
        windowBytes += bucket.bytesFromCache
        windowEvictions += bucket.evictions
        if (age < rateSeconds) recent += bucket.all.requests
        for (const [name, counts] of bucket.routes) {
          addCounts(entry(routes, name, newCounts), counts)
        }
        for (const [into, from] of [
          [upstreams, bucket.upstreams],
          [servers, bucket.servers],
        ] as const) {
          for (const [name, counts] of from) {
            const sum = entry(into, name, () => ({ requests: 0, errors: 0 }))
            sum.requests += counts.requests
            sum.errors += counts.errors
          }
        }
        for (const [name, n] of bucket.storageErrors)
          storageErrors.set(name, (storageErrors.get(name) ?? 0) + n)
      }

      const upstreamNames = new Set([options.upstreamName, ...upstreamLast.keys()])
      const stats = storeStats()
      const capacity = options.storeCapacity?.()
      return {
        pids: [process.pid],
        at: now,
        startedAt,
        version: options.version,
        node: process.version,
        windowSeconds,
        rateSeconds,
        totals: { ...totals },
        window: { counts: rawCounts(all), recentRequests: recent, bytesFromCache: windowBytes },
        routes: [...routes].map(([name, counts]) => ({ name, counts: rawCounts(counts) })),
        stores: [
          {
            name: storeName,
            shared: options.storeShared ?? false,
            ...(options.storePerHost === true && { perHost: true }),
            entries: stats.entries,
            bytes: stats.bytes,
            ...(capacity !== undefined && { maxBytes: capacity.maxBytes }),
            ...(capacity?.fileBytes !== undefined && { fileBytes: capacity.fileBytes }),
            tags: stats.tags,
            evictions: windowEvictions,
            evictionsTotal,
            errors: storageErrors.get(storeName) ?? 0,
          },
        ],
        upstreams: [...upstreamNames].map((name): UpstreamStatus => {
          const last = upstreamLast.get(name)
          const counts = upstreams.get(name) ?? { requests: 0, errors: 0 }
          return {
            name,
            state: last === undefined ? 'unknown' : last.error === null ? 'up' : 'failing',
            requests: counts.requests,
            errors: counts.errors,
            lastStatus: last?.status ?? null,
            lastError: last?.error ?? null,
            lastAt: last?.at ?? null,
          }
        }),
        servers: (options.servers?.() ?? []).map((server): ServerStatus => {
          const counts = servers.get(serverKey(server.upstream, server.url))
          return { ...server, requests: counts?.requests ?? 0, failures: counts?.errors ?? 0 }
        }),
        purges: [...asked, ...afterUnsafe].sort(newestFirst).map((p) => ({ ...p, kinds: [...p.kinds] })),
        history: history.report(now),
      }
    },
    close() {
      events.requestFinished.unsubscribe(onRequest)
      events.upstreamFinished.unsubscribe(onUpstream)
      events.storageError.unsubscribe(onStorageError)
      events.cacheEvicted.unsubscribe(onEvicted)
      events.invalidation.unsubscribe(onInvalidation)
    },
  }
  return tracker
}

/** The value under `key`, made and stored first when there is none. */
function entry<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key)
  if (value === undefined) {
    value = make()
    map.set(key, value)
  }
  return value
}
