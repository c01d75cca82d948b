/**
 * Prometheus metrics: subscribes to the diagnostics channels in events.ts and keeps the
 * counters, histograms and gauges `GET /metrics` shows (docs/metrics.md lists them). It
 * only observes: it never changes a response, and a message it cannot read is dropped
 * rather than thrown (diagnostics_channel would rethrow a subscriber's error as an
 * uncaught exception). Labels stay bounded: route names, outcomes, methods, status
 * classes, never a URL or a tag.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import {
  type Aggregator,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type LabelValues,
  type Metric,
  Registry,
} from 'prom-client'
import type { StoreStats } from '../storage/store.ts'
import {
  type BackgroundRevalidation,
  type CacheEvicted,
  type CacheNotStored,
  type CacheStored,
  events,
  type FillLockEvent,
  type Invalidation,
  type RequestFinished,
  type RoutesReload,
  type TagsDropped,
  type StorageError,
  type UpstreamFinished,
} from './events.ts'
import { registerLimitMetrics } from './limit-metrics.ts'
import { registerListenerMetrics } from './listener-metrics.ts'
import { type PoolMetricsOptions, registerPoolMetrics } from './pool-metrics.ts'

export interface MetricsOptions {
  /** Figures of the cache store, read at each scrape for the object and byte gauges. */
  storeStats(): StoreStats
  /** The store's name: the `store` label of the storage metrics. */
  readonly storeName: string
  /** Whether the store answers now (a closed circuit), read at each scrape. @default always */
  storeUp?(): boolean
  /** The upstream's name as it publishes; its error series start at 0. */
  readonly upstreamName: string
  /**
   * Whether every worker reads the store's exact figures (the local store): the sum over
   * workers then keeps one of them, not their total. @default false: each process's own, summed
   */
  readonly storePerHost?: boolean
  /** The local store's bound and data file, for their gauges. @default none */
  storeCapacity?(): { readonly maxBytes: number; readonly fileBytes: number }
  /** Upstream pools: every server for the per-server gauges, and the pool names. @default none */
  readonly pools?: PoolMetricsOptions
  /** Whether the store has fill locks (collapsing across instances): their series start at 0. @default false */
  readonly fillLocks?: boolean
  /**
   * prom-client's process metrics (CPU, memory, handles, event loop lag, GC), under their
   * usual unprefixed names (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes` …).
   * @default true
   */
  readonly processMetrics?: boolean
  /** Requests being answered, client connections and tunnels open now, read at each scrape. @default none */
  traffic?(): { readonly inFlight: number; readonly connections: number; readonly tunnels?: number }
  /** edgecache's version, for `edgecache_build_info`. @default none: no such metric */
  readonly version?: string
}

export interface Metrics {
  /** This instance's own registry; never prom-client's global one. */
  readonly registry: Registry
  /** The Content-Type of `render()`'s text (Prometheus text format 0.0.4). */
  readonly contentType: string
  /** Every metric in the Prometheus text format. */
  render(): Promise<string>
  /**
   * Unsubscribes from the channels; the registry keeps its last values. The process
   * metrics' GC observer and event-loop monitor, which prom-client gives no way to stop,
   * stay until the process ends.
   */
  close(): void
}

/** Request durations run from a fraction of a millisecond (a hit) to a slow backend. */
const requestBuckets = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
] as const
const upstreamBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** Stored freshness lifetimes: a second up to a year. */
const ttlBuckets = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86_400, 7 * 86_400, 30 * 86_400, 365 * 86_400]

/** Methods counted under their own name; anything else is `other`, so a client cannot add series. */
const methodLabels = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'PURGE',
  'CONNECT',
  'TRACE',
  'other',
]
/** `none` when no stage set an outcome (a request refused before the cache, say). */
/** The protocol label's values, in slot order. */
const protocolLabels = ['http/1.0', 'http/1.1', 'h2'] as const

const cacheLabels = ['hit', 'stale', 'miss', 'revalidated', 'bypass', 'pass', 'none', 'other']
const statusClasses = ['other', '1xx', '2xx', '3xx', '4xx', '5xx']
const methodIndex = new Map(methodLabels.slice(0, -1).map((label, i) => [label, i]))
const cacheIndex = new Map(cacheLabels.slice(0, -2).map((label, i) => [label, i]))
/** Series slots per route: one per method × status class × cache outcome. */
const slotsPerRoute = methodLabels.length * statusClasses.length * cacheLabels.length
const upstreamErrorKinds = ['refused', 'reset', 'timeout', 'bad_response'] as const
const storageOps = ['get', 'set', 'delete', 'purge'] as const
const fillLockResults = [
  'acquired',
  'unavailable',
  'stored',
  'uncacheable',
  'abandoned',
  'released',
  'timeout',
] as const
/** Distinct not-stored reasons kept as labels; the engine has about a dozen. */
const maxNotStoredReasons = 32

/** One series of the per-request metrics: a route, method, status class and cache outcome. */
interface RequestSeries extends DurationHistogram {
  readonly labels: { route: string; method: string; status_class: string; cache: string }
  count: number
  bytes: number
}

/**
 * @example
 * const metrics = createMetrics({ storeStats: () => store.stats(), storeName: 'memory', upstreamName: 'default' })
 * res.setHeader('content-type', metrics.contentType)
 * res.end(await metrics.render())
 * // on shutdown
 * metrics.close()
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const { storeStats, storeName, upstreamName } = options
  if (storeName.length === 0) throw new Error('metrics: storeName must be a non-empty string')
  if (upstreamName.length === 0) throw new Error('metrics: upstreamName must be a non-empty string')
  const registry = new Registry()
  const registers = [registry]

  /*
   * The per-request metrics are counted in plain objects and handed to the registry at
   * scrape time. prom-client's Counter.inc and Histogram.observe validate and hash the
   * labels on every call, about 1 µs for the four updates a request makes, which is a
   * visible share of a hit's CPU; a Map lookup, an array index and a few additions cost
   * well under 100 ns.
   */
  const requestSeries: RequestSeries[] = []
  /** Route name → series by slot; an index, not a string key, so a request builds no string. */
  const seriesByRoute = new Map<string, (RequestSeries | undefined)[]>()
  let collapsed = 0
  registerComputed(registry, {
    name: 'edgecache_requests_total',
    help: 'Requests answered on the proxy listener, by route, method, status class and cache outcome.',
    type: 'counter',
    values: () => requestSeries.map((s) => ({ labels: s.labels, value: s.count })),
  })
  registerComputed(registry, {
    name: 'edgecache_request_duration_seconds',
    help: 'Time from a request arriving to its response finishing, by route and cache outcome.',
    type: 'histogram',
    values: () => durationValues('edgecache_request_duration_seconds', requestSeries),
  })
  registerComputed(registry, {
    name: 'edgecache_bytes_served_total',
    help: 'Response body bytes sent to clients, by cache outcome; hit, stale and revalidated bytes are bytes the backend was spared.',
    type: 'counter',
    values: () => bytesByCache(requestSeries),
  })
  // Requests by protocol and scheme: six slots, counted without building a label per request.
  const protocolCounts = new Array<number>(protocolLabels.length * 2).fill(0)
  registerComputed(registry, {
    name: 'edgecache_requests_by_protocol_total',
    help: 'Requests answered on the proxy listeners, by HTTP version (http/1.0, http/1.1, h2) and scheme (https from the TLS listener).',
    type: 'counter',
    values: () =>
      protocolCounts.flatMap((value, i) =>
        value === 0
          ? []
          : [
              {
                labels: { protocol: protocolLabels[i >> 1] as string, scheme: i & 1 ? 'https' : 'http' },
                value,
              },
            ],
      ),
  })
  const rapidResets = new Counter({
    name: 'edgecache_http2_rapid_reset_closes_total',
    help: 'HTTP/2 connections closed for cancelling more than http2.maxClientResets streams in 10 s (CVE-2023-44487).',
    registers,
  })
  rapidResets.inc(0)
  registerComputed(registry, {
    name: 'edgecache_collapsed_requests_total',
    help: 'Requests that waited for another request’s fetch of the same key instead of going upstream.',
    type: 'counter',
    values: () => [{ labels: {}, value: collapsed }],
  })

  // Counted as the request metrics are, in plain numbers read at scrape time: every miss
  // and pass updates these, and prom-client's labelled inc and observe cost about 1 µs.
  const upstreamSeries = new Map<string, UpstreamSeries>()
  registerComputed(registry, {
    name: 'edgecache_upstream_requests_total',
    help: 'Requests the backend answered, by upstream and status class.',
    type: 'counter',
    values: () =>
      [...upstreamSeries].flatMap(([upstream, s]) =>
        s.byStatusClass.flatMap((value, i) =>
          value === 0 ? [] : [{ labels: { upstream, status_class: statusClasses[i] as string }, value }],
        ),
      ),
  })
  registerComputed(registry, {
    name: 'edgecache_upstream_duration_seconds',
    help: 'Time from sending a request upstream to its response headers arriving, for answered requests.',
    type: 'histogram',
    values: () =>
      [...upstreamSeries].flatMap(([upstream, s]) =>
        histogramValues('edgecache_upstream_duration_seconds', { upstream }, upstreamBuckets, s),
      ),
  })
  const upstreamErrors = new Counter({
    name: 'edgecache_upstream_errors_total',
    help: 'Upstream requests that failed before an answer, by kind: refused, reset, timeout, bad_response.',
    labelNames: ['upstream', 'kind'],
    registers,
  })
  for (const upstream of new Set([upstreamName, ...(options.pools?.pools ?? [])])) {
    for (const kind of upstreamErrorKinds) upstreamErrors.inc({ upstream, kind }, 0)
  }

  const readStats = (): StoreStats | undefined => {
    try {
      return storeStats()
    } catch {
      return undefined
    }
  }
  // A store every worker shares answers each worker with the whole: keep one, not the sum.
  const storeAggregator = options.storePerHost === true ? ('max' as const) : ('sum' as const)
  new Gauge({
    name: 'edgecache_cache_objects',
    help: 'Entries held by the cache store (the shared local store once; memory stores summed over workers).',
    aggregator: storeAggregator,
    registers,
    collect() {
      const stats = readStats()
      if (stats !== undefined) this.set(stats.entries)
    },
  })
  new Gauge({
    name: 'edgecache_cache_bytes',
    help: 'Bytes held by the cache store, as counted against its maxBytes: bodies plus keys, metadata and index.',
    aggregator: storeAggregator,
    registers,
    collect() {
      const stats = readStats()
      if (stats !== undefined) this.set(stats.bytes)
    },
  })
  const capacity = options.storeCapacity
  if (capacity !== undefined) {
    new Gauge({
      name: 'edgecache_cache_max_bytes',
      help: 'The byte bound of the local store (storage.local.maxBytes).',
      aggregator: 'max',
      registers,
      collect() {
        this.set(capacity().maxBytes)
      },
    })
    new Gauge({
      name: 'edgecache_cache_file_bytes',
      help: "Size of the local store's data file on disk (mapped, not counted in resident anonymous memory).",
      aggregator: 'max',
      registers,
      collect() {
        this.set(capacity().fileBytes)
      },
    })
  }
  const traffic = options.traffic
  if (traffic !== undefined) {
    new Gauge({
      name: 'edgecache_requests_in_flight',
      help: 'Requests received and not yet answered in full (summed over workers).',
      registers,
      collect() {
        this.set(traffic().inFlight)
      },
    })
    new Gauge({
      name: 'edgecache_open_connections',
      help: 'Client connections open on the proxy listener (summed over workers).',
      registers,
      collect() {
        this.set(traffic().connections)
      },
    })
    new Gauge({
      name: 'edgecache_tunnels_open',
      help: 'Tunnels of Upgrade requests (WebSockets) open now (summed over workers).',
      registers,
      collect() {
        this.set(traffic().tunnels ?? 0)
      },
    })
  }
  if (options.version !== undefined) {
    new Gauge({
      name: 'edgecache_build_info',
      help: 'Always 1; its labels say which edgecache and Node.js are running.',
      labelNames: ['version', 'node'],
      aggregator: 'max',
      registers,
    }).set({ version: options.version, node: process.versions.node }, 1)
  }
  const evictions = new Counter({
    name: 'edgecache_cache_evictions_total',
    help: 'Entries leaving the store, by reason: evict (space), expire, delete (purge or invalidation), replace.',
    labelNames: ['reason'],
    registers,
  })
  const ttl = new Histogram({
    name: 'edgecache_cache_ttl_seconds',
    help: 'Freshness lifetime of the responses stored.',
    buckets: ttlBuckets,
    registers,
  })
  const notStored = new Counter({
    name: 'edgecache_cache_not_stored_total',
    help: 'Responses not stored, by reason (the Cache-Status detail: no-store, private, too-large …).',
    labelNames: ['reason'],
    registers,
  })
  const revalidations = new Counter({
    name: 'edgecache_background_revalidations_total',
    help: 'Background refreshes of stale entries, by result: updated, not_modified, failed, not_storable.',
    labelNames: ['result'],
    registers,
  })
  const invalidations = new Counter({
    name: 'edgecache_invalidations_total',
    help: 'Invalidation calls, by what they selected on (tag, url, prefix, all) and whether soft.',
    labelNames: ['kind', 'soft'],
    registers,
  })
  const invalidated = new Counter({
    name: 'edgecache_invalidated_objects_total',
    help: 'Entries purged (hard) or marked stale (soft) by invalidation calls.',
    registers,
  })
  // RFC 9111 §4.4 invalidations follow client traffic, not operators: counted apart, so
  // a busy POST endpoint does not drown the purges operators asked for.
  const unsafeInvalidations = new Counter({
    name: 'edgecache_unsafe_invalidations_total',
    help: 'Invalidations after a successful unsafe method (RFC 9111 §4.4), not operator purges.',
    registers,
  })
  const unsafeInvalidated = new Counter({
    name: 'edgecache_unsafe_invalidated_objects_total',
    help: 'Entries removed by invalidations after a successful unsafe method (RFC 9111 §4.4).',
    registers,
  })
  const storageErrors = new Counter({
    name: 'edgecache_storage_errors_total',
    help: 'Failed store operations, served as a miss, by store and operation.',
    labelNames: ['store', 'op'],
    registers,
  })
  for (const op of storageOps) storageErrors.inc({ store: storeName, op }, 0)
  const routeReloads = new Counter({
    name: 'edgecache_routes_reloads_total',
    help: 'Route file reloads, by result: ok, or rejected (an invalid file; the routes in force stay).',
    labelNames: ['result'],
    registers,
  })
  for (const result of ['ok', 'rejected']) routeReloads.inc({ result }, 0)
  const tagsDropped = new Counter({
    name: 'edgecache_surrogate_tags_dropped_total',
    help: 'Tags dropped because a response had more than surrogate.maxTags or one longer than surrogate.maxTagBytes.',
    registers,
  })
  const fillLocks = new Counter({
    name: 'edgecache_fill_locks_total',
    help: 'Misses that claimed the shared fill lock (acquired), found Redis unavailable, or waited for another instance and how that ended: stored, uncacheable, abandoned, released, timeout.',
    labelNames: ['result'],
    registers,
  })
  if (options.fillLocks === true) for (const result of fillLockResults) fillLocks.inc({ result }, 0)
  const storeUp = options.storeUp
  const storageUp = new Gauge({
    name: 'edgecache_storage_up',
    help: '1 while the store answers, 0 while it is unreachable; the minimum over workers.',
    labelNames: ['store'],
    aggregator: 'min',
    registers,
    // The memory store is always up; a remote store says so through its circuit breaker.
    collect() {
      if (storeUp !== undefined) this.set({ store: storeName }, storeUp() ? 1 : 0)
    },
  })
  storageUp.set({ store: storeName }, 1)

  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })

  const notStoredReasons = new Set<string>()
  const subscriptions: [string, (message: unknown) => void][] = [
    [
      events.requestFinished.name as string,
      dropInvalid((m: RequestFinished) => {
        if (!Number.isFinite(m.totalMs) || !Number.isFinite(m.bytes)) return
        const method = methodIndex.get(m.method) ?? methodLabels.length - 1
        const statusClass = statusClassIndex(m.status)
        const cache =
          m.cache === undefined ? cacheLabels.length - 2 : (cacheIndex.get(m.cache) ?? cacheLabels.length - 1)
        let slots = seriesByRoute.get(m.route)
        if (slots === undefined) {
          slots = new Array<RequestSeries | undefined>(slotsPerRoute)
          seriesByRoute.set(m.route, slots)
        }
        const slot = (method * statusClasses.length + statusClass) * cacheLabels.length + cache
        let series = slots[slot]
        if (series === undefined) {
          series = newRequestSeries({
            route: m.route,
            method: methodLabels[method] as string,
            status_class: statusClasses[statusClass] as string,
            cache: cacheLabels[cache] as string,
          })
          slots[slot] = series
          requestSeries.push(series)
        }
        const seconds = Math.max(0, m.totalMs) / 1000
        series.count++
        series.bytes += Math.max(0, m.bytes)
        observe(series, requestBuckets, seconds)
        if (m.collapsed) collapsed++
        const protocol = m.httpVersion === '2.0' ? 2 : m.httpVersion === '1.0' ? 0 : 1
        const protocolSlot = protocol * 2 + (m.scheme === 'https' ? 1 : 0)
        protocolCounts[protocolSlot] = (protocolCounts[protocolSlot] as number) + 1
      }),
    ],
    [events.http2RapidReset.name as string, () => rapidResets.inc()],
    [
      events.upstreamFinished.name as string,
      dropInvalid((m: UpstreamFinished) => {
        if (m.status !== undefined) {
          let series = upstreamSeries.get(m.upstream)
          if (series === undefined) {
            series = newUpstreamSeries()
            upstreamSeries.set(m.upstream, series)
          }
          const classIndex = statusClassIndex(m.status)
          series.byStatusClass[classIndex] = (series.byStatusClass[classIndex] as number) + 1
          observe(series, upstreamBuckets, Math.max(0, m.durationMs) / 1000)
        } else if (m.error !== undefined) {
          upstreamErrors.inc({
            upstream: m.upstream,
            kind: m.error === 'bad-response' ? 'bad_response' : m.error,
          })
        }
      }),
    ],
    [
      events.cacheStored.name as string,
      dropInvalid((m: CacheStored) => ttl.observe(Math.max(0, m.ttlMs) / 1000)),
    ],
    [
      events.cacheNotStored.name as string,
      dropInvalid((m: CacheNotStored) => {
        let reason = /^[a-z0-9-]{1,40}$/.test(m.reason) ? m.reason : 'other'
        if (!notStoredReasons.has(reason)) {
          if (notStoredReasons.size >= maxNotStoredReasons) reason = 'other'
          notStoredReasons.add(reason)
        }
        notStored.inc({ reason })
      }),
    ],
    [
      events.cacheEvicted.name as string,
      dropInvalid((m: CacheEvicted) => evictions.inc({ reason: m.reason })),
    ],
    [
      events.backgroundRevalidation.name as string,
      dropInvalid((m: BackgroundRevalidation) =>
        revalidations.inc({ result: m.result.replaceAll('-', '_') }),
      ),
    ],
    [
      events.invalidation.name as string,
      dropInvalid((m: Invalidation) => {
        if (m.source === 'unsafe-method') {
          unsafeInvalidations.inc()
          unsafeInvalidated.inc(Math.max(0, m.purged))
          return
        }
        const soft = m.soft ? 'true' : 'false'
        // One call selecting by tags and by URLs counts once under each kind.
        for (const kind of new Set(m.kinds)) invalidations.inc({ kind, soft })
        invalidated.inc(Math.max(0, m.purged))
      }),
    ],
    [
      events.tagsDropped.name as string,
      dropInvalid((m: TagsDropped) => tagsDropped.inc(Math.max(0, m.count))),
    ],
    [
      events.routesReload.name as string,
      dropInvalid((m: RoutesReload) => routeReloads.inc({ result: m.ok ? 'ok' : 'rejected' })),
    ],
    [
      events.fillLock.name as string,
      dropInvalid((m: FillLockEvent) => {
        if ((fillLockResults as readonly string[]).includes(m.result)) fillLocks.inc({ result: m.result })
      }),
    ],
    [
      events.storageError.name as string,
      dropInvalid((m: StorageError) => storageErrors.inc({ store: m.store, op: m.op })),
    ],
  ]
  for (const [name, onMessage] of subscriptions) subscribe(name, onMessage)
  const stopPoolMetrics =
    options.pools === undefined ? undefined : registerPoolMetrics(registry, options.pools)
  const stopLimitMetrics = registerLimitMetrics(registry)
  const stopListenerMetrics = registerListenerMetrics(registry)

  let closed = false
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close() {
      if (closed) return
      closed = true
      for (const [name, onMessage] of subscriptions) unsubscribe(name, onMessage)
      stopPoolMetrics?.()
      stopLimitMetrics()
      stopListenerMetrics()
    },
  }
}

/** 1 for 1xx … 5xx for 5xx; 0 (`other`) for anything outside 100–599. */
function statusClassIndex(status: number): number {
  return status >= 100 && status < 600 ? Math.floor(status / 100) : 0
}

/** What the backend of one upstream answered: counts by status class, and a duration histogram. */
interface UpstreamSeries extends DurationHistogram {
  readonly byStatusClass: number[]
}

/** A histogram's sum and its non-cumulative counts per bucket; the last is above the largest bound. */
interface DurationHistogram {
  durationSum: number
  readonly buckets: number[]
}

function newUpstreamSeries(): UpstreamSeries {
  return {
    byStatusClass: new Array<number>(statusClasses.length).fill(0),
    durationSum: 0,
    buckets: new Array<number>(upstreamBuckets.length + 1).fill(0),
  }
}

/** Counts `seconds` into `histogram`, whose buckets have `bounds`. */
function observe(histogram: DurationHistogram, bounds: readonly number[], seconds: number): void {
  histogram.durationSum += seconds
  let bucket = 0
  while (bucket < bounds.length && seconds > (bounds[bucket] as number)) bucket++
  histogram.buckets[bucket] = (histogram.buckets[bucket] as number) + 1
}

function newRequestSeries(labels: RequestSeries['labels']): RequestSeries {
  return {
    labels,
    count: 0,
    bytes: 0,
    durationSum: 0,
    buckets: new Array<number>(requestBuckets.length + 1).fill(0),
  }
}

/** A subscriber that drops a message it cannot read instead of throwing from `publish`. */
function dropInvalid<T>(onMessage: (message: T) => void): (message: unknown) => void {
  return (message) => {
    try {
      onMessage(message as T)
    } catch {
      // A malformed message: counting it wrong is worse than not counting it.
    }
  }
}

interface ComputedValue {
  readonly labels: LabelValues<string>
  readonly value: number
  readonly metricName?: string
}

/**
 * Registers a metric whose values are computed at scrape time. It keeps the contract the
 * registry reads a metric by: `get()` resolving to name, help, type, aggregator and values,
 * histogram buckets as `<name>_bucket` values with an `le` label. prom-client's own
 * AggregatorRegistry registers its aggregated metrics the same way.
 */
function registerComputed(
  registry: Registry,
  spec: {
    readonly name: string
    readonly help: string
    readonly type: 'counter' | 'histogram'
    readonly values: () => ComputedValue[]
  },
): void {
  const aggregator: Aggregator = 'sum'
  const metric = {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator,
    get: async () => ({
      name: spec.name,
      help: spec.help,
      type: spec.type,
      aggregator,
      values: spec.values(),
    }),
    reset() {},
  }
  // The registry's type names prom-client's classes, but it reads only the fields above.
  registry.registerMetric(metric as unknown as Metric)
}

/** The duration histogram of `series`, grouped by route and cache outcome. */
function durationValues(name: string, series: Iterable<RequestSeries>): ComputedValue[] {
  const groups = new Map<string, { route: string; cache: string; sum: number; buckets: number[] }>()
  for (const s of series) {
    const key = `${s.labels.route}\n${s.labels.cache}`
    let group = groups.get(key)
    if (group === undefined) {
      group = {
        route: s.labels.route,
        cache: s.labels.cache,
        sum: 0,
        buckets: new Array(s.buckets.length).fill(0),
      }
      groups.set(key, group)
    }
    group.sum += s.durationSum
    for (let i = 0; i < s.buckets.length; i++)
      group.buckets[i] = (group.buckets[i] ?? 0) + (s.buckets[i] ?? 0)
  }
  const values: ComputedValue[] = []
  for (const { route, cache, sum, buckets } of groups.values()) {
    values.push(...histogramValues(name, { route, cache }, requestBuckets, { durationSum: sum, buckets }))
  }
  return values
}

/** One histogram's `_bucket` (cumulative, with `le`), `_sum` and `_count` values. */
function histogramValues(
  name: string,
  labels: Record<string, string>,
  bounds: readonly number[],
  { durationSum, buckets }: DurationHistogram,
): ComputedValue[] {
  const values: ComputedValue[] = []
  let cumulative = 0
  for (let i = 0; i < buckets.length; i++) {
    cumulative += buckets[i] ?? 0
    const le = i < bounds.length ? (bounds[i] as number) : '+Inf'
    values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` })
  }
  values.push({ labels, value: durationSum, metricName: `${name}_sum` })
  values.push({ labels, value: cumulative, metricName: `${name}_count` })
  return values
}

/** Bytes served per cache outcome, summed over the other labels. */
function bytesByCache(series: Iterable<RequestSeries>): ComputedValue[] {
  const sums = new Map<string, number>()
  for (const s of series) sums.set(s.labels.cache, (sums.get(s.labels.cache) ?? 0) + s.bytes)
  return [...sums].map(([cache, bytes]) => ({ labels: { cache }, value: bytes }))
}
