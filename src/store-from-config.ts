/**
 * Builds the cache store the storage config asks for: local (the cache directory every
 * worker shares), memory, Redis, or the local store in front of Redis. Only this file and
 * app.ts know that the drivers exist. The Redis modules are imported only when a Redis
 * driver is chosen: the client's code alone adds more than 10 MiB to a process's resident
 * memory, which a process without Redis has no use for.
 */
import { readFileSync } from 'node:fs'
import type { Clock } from './clock.ts'
import type { SharedBuckets } from './limits/shared-rate-limiter.ts'
import type { LocalTierConfig, RedisConnectionConfig, StorageConfig } from './config/schema.ts'
import { type CircuitBreaker, createCircuitBreaker, probeEvery } from './storage/circuit-breaker.ts'
import { createFillLocks, type FillNotices } from './storage/fill-locks.ts'
import { guardStore } from './storage/guarded-store.ts'
import { openLocalStore } from './storage/local-directory.ts'
import type { LocalStore } from './storage/local-store.ts'
import { createMemoryStore, type EvictReason } from './storage/memory-store.ts'
import type { RedisTarget } from './storage/redis-topology.ts'
import type { CacheStore, FillLocks } from './storage/store.ts'
import { TieredStore } from './storage/tiered-store.ts'

export interface BuiltStore {
  readonly store: CacheStore
  /** Largest body the cache stage should try to store. */
  readonly maxObjectBytes: number
  /**
   * Fill locks for collapsing misses across processes, with their TTL and wait bound: the
   * primary's claims for the local store's workers, Redis locks for redis and tiered. Absent
   * for the memory store and outside a cluster worker (the in-process collapser covers one
   * process), and with lockWait 0.
   */
  readonly fills?: { readonly locks: FillLocks; readonly ttlMs: number; readonly waitMs: number }
  /**
   * Rate limit buckets in Redis, behind the store's circuit breaker: one set for every
   * instance on the same Redis. Absent for the local and memory stores.
   */
  readonly rateBuckets?: SharedBuckets
  /** State for /ready and metrics: up, degraded (breaker not closed) or down. */
  state(): { readonly state: 'up' | 'degraded' | 'down'; readonly lastError: string | null }
  /** Closes the store and stops what watches it. */
  close(): Promise<void>
  /** The local store's bound and file, for /ready and metrics; absent without one. */
  capacity?(): { readonly maxBytes: number; readonly fileBytes: number; readonly mapBytes: number }
}

/** Fill locks and their settings, as BuiltStore.fills holds them. */
export type FillSettings = NonNullable<BuiltStore['fills']>

export interface StoreDeps {
  readonly clock: Clock
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
  onEvict(reason: EvictReason): void
  onL1Reset(): void
  /**
   * Collapsing across the workers of this instance (the primary holds the claims), for the
   * local store; absent outside a cluster worker.
   */
  readonly workerFills?: FillSettings
  /**
   * Whether an unusable store in the cache directory is set aside here; false in a worker,
   * whose primary did it before starting workers.
   */
  readonly setAsideUnusable: boolean
  /**
   * Names this instance on the invalidation bus: its workers share one local store, so
   * none of them applies another's invalidations again. @default one per process
   */
  readonly instance?: string
}

/** How often Redis is pinged, so that its state is known without traffic. */
const REDIS_PROBE_MS = 1_000

export async function buildStore(config: StorageConfig, deps: StoreDeps): Promise<BuiltStore> {
  const { clock } = deps
  if (config.driver === 'local') {
    const store = openLocal(config.local, deps)
    return {
      store,
      fills: deps.workerFills,
      maxObjectBytes: config.local.maxObjectBytes,
      state: () => ({ state: 'up', lastError: null }),
      close: () => store.close(),
      capacity: () => capacityOf(store),
    }
  }
  if (config.driver === 'memory') {
    const store = createMemoryStore({
      maxBytes: config.memory.maxBytes,
      maxObjectBytes: config.memory.maxObjectBytes,
      clock,
      onEvict: (_key, reason) => deps.onEvict(reason),
    })
    return {
      store,
      maxObjectBytes: config.memory.maxObjectBytes,
      state: () => ({ state: 'up', lastError: null }),
      close: () => store.close(),
    }
  }
  const [{ createRedisStore }, { createRedisBus }] = await Promise.all([
    import('./storage/redis-store.ts'),
    import('./storage/redis-bus.ts'),
  ])
  const redis = config.redis
  const target = redisTarget(redis)
  const maxObjectBytes =
    config.driver === 'redis' ? config.memory.maxObjectBytes : config.local.maxObjectBytes
  const remote = createRedisStore({
    ...target,
    keyPrefix: redis.keyPrefix,
    commandTimeoutMs: redis.commandTimeout,
    maxObjectBytes,
    clock,
    onError: throttled(10_000, clock, (err: unknown) =>
      deps.log.warn({ err }, isAuthError(err) ? AUTH_FAILED : 'redis connection error'),
    ),
  })
  const breaker = createCircuitBreaker({
    clock,
    onStateChange: (state, err) => deps.log.warn({ state, err }, `redis circuit ${state}`),
  })
  const state = () => breakerState(breaker)
  // With no traffic, /ready would not notice Redis leave or come back.
  const stopProbing = probeEvery(breaker, () => remote.ping(), REDIS_PROBE_MS)
  // The store's breaker: Redis down for the cache is Redis down for rate limits too, and a
  // rate limit decision must not wait out a deadline per request while it is.
  const rateBuckets: SharedBuckets = {
    take: (bucket, rate, burst) => breaker.run(() => remote.rateBuckets.take(bucket, rate, burst)),
    available: () => !breaker.rejecting(),
  }
  const fills = (notices?: FillNotices) =>
    redis.lockWait === 0
      ? undefined
      : {
          locks: createFillLocks({ lock: remote.fillLock, breaker, notices, log: deps.log }),
          ttlMs: redis.lockTtl,
          waitMs: redis.lockWait,
        }
  if (config.driver === 'redis') {
    // No bus here: waiters learn of a release by polling the lock.
    const store = guardStore(remote, breaker)
    return {
      store,
      fills: fills(),
      rateBuckets,
      maxObjectBytes,
      state,
      close: () => {
        stopProbing()
        return store.close()
      },
    }
  }
  const l1 = openLocal(config.local, deps)
  const bus = createRedisBus({
    ...target,
    keyPrefix: redis.keyPrefix,
    log: deps.log,
    instance: deps.instance,
  })
  const store = new TieredStore({ l1, l2: remote, bus, breaker, log: deps.log, onL1Reset: deps.onL1Reset })
  return {
    store,
    fills: fills(bus),
    rateBuckets,
    maxObjectBytes,
    state,
    capacity: () => capacityOf(l1),
    close: () => {
      stopProbing()
      return store.close()
    },
  }
}

function openLocal(local: LocalTierConfig, deps: StoreDeps): LocalStore {
  return openLocalStore(
    {
      path: local.path,
      maxBytes: local.maxBytes,
      maxObjectBytes: local.maxObjectBytes,
      clock: deps.clock,
      onEvict: (_key, reason) => deps.onEvict(reason),
    },
    deps.log,
    deps.setAsideUnusable,
  )
}

function capacityOf(store: LocalStore) {
  return { maxBytes: store.maxBytes, fileBytes: store.fileBytes(), mapBytes: store.mapBytes }
}

function breakerState(breaker: CircuitBreaker) {
  const s = breaker.state()
  return {
    state: s === 'closed' ? ('up' as const) : s === 'open' ? ('down' as const) : ('degraded' as const),
    lastError: breaker.lastError() ?? null,
  }
}

/**
 * Where Redis is, as the storage layer takes it. The username and password fields are the
 * data nodes' credentials: they go into a URL that has none of its own, and to the master
 * and replicas Sentinel names. TLS files are read here, once; load.ts has checked them.
 */
export function redisTarget(redis: RedisConnectionConfig): RedisTarget {
  const tls =
    redis.tls === undefined
      ? undefined
      : { ca: readPem(redis.tls.ca), cert: readPem(redis.tls.cert), key: readPem(redis.tls.key) }
  if (redis.sentinel !== undefined) {
    return {
      sentinel: {
        name: redis.sentinel.name ?? '',
        sentinels: redis.sentinel.sentinels,
        username: redis.username,
        password: redis.password,
      },
      tls,
    }
  }
  if (redis.cluster.length > 0) {
    return { cluster: redis.cluster.map((seed) => withCredentials(seed, redis)), tls }
  }
  return { url: redis.url === undefined ? undefined : withCredentials(redis.url, redis), tls }
}

function readPem(path: string | undefined): Buffer | undefined {
  return path === undefined ? undefined : readFileSync(path)
}

/** The username and password from config go into the URL, unless it has its own. */
function withCredentials(url: string, redis: RedisConnectionConfig): string {
  const u = new URL(url)
  if (u.username === '' && u.password === '') {
    if (redis.username !== undefined) u.username = encodeURIComponent(redis.username)
    if (redis.password !== undefined) u.password = encodeURIComponent(redis.password)
  } else if (u.password === '' && redis.password !== undefined) {
    u.password = encodeURIComponent(redis.password)
  }
  return u.toString()
}

const AUTH_FAILED =
  'redis refused the credentials: check storage.redis.username and storage.redis.password (or the URL user info)'

/** True for Redis's replies to a failed AUTH (RESP error prefixes; a user without rights gets NOPERM). */
function isAuthError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err)
  return /\b(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|invalid username-password/i.test(message)
}

/** `log` at most once per `intervalMs`: a reconnect loop would otherwise log every second. */
function throttled(intervalMs: number, clock: Clock, log: (err: unknown) => void): (err: unknown) => void {
  let last = Number.NEGATIVE_INFINITY
  return (err) => {
    const now = clock.now()
    if (now - last < intervalMs) return
    last = now
    log(err)
  }
}
