/**
 * Builds the cache store the storage config asks for: memory, Redis, or a memory tier in
 * front of Redis. Only this file and app.ts know that the drivers exist. The Redis modules
 * are imported only when a Redis driver is chosen: the client's code alone adds more than
 * 10 MiB to a process's resident memory, which a memory-store process has no use for.
 */
import type { Clock } from './clock.ts'
import type { StorageConfig } from './config/schema.ts'
import { createCircuitBreaker, type CircuitBreaker } from './storage/circuit-breaker.ts'
import { createFillLocks, type FillNotices } from './storage/fill-locks.ts'
import { guardStore } from './storage/guarded-store.ts'
import { createMemoryStore, type EvictReason } from './storage/memory-store.ts'
import type { CacheStore, FillLocks } from './storage/store.ts'
import { TieredStore } from './storage/tiered-store.ts'

export interface BuiltStore {
  readonly store: CacheStore
  /** Largest body the cache stage should try to store. */
  readonly maxObjectBytes: number
  /**
   * Fill locks for collapsing misses across instances, with their TTL and wait bound; absent
   * for the memory store (one process: the in-process collapser covers it) and with lockWait 0.
   */
  readonly fills?: { readonly locks: FillLocks; readonly ttlMs: number; readonly waitMs: number }
  /** State for /ready and metrics: up, degraded (breaker not closed) or down. */
  state(): { readonly state: 'up' | 'degraded' | 'down'; readonly lastError: string | null }
}

export interface StoreDeps {
  readonly clock: Clock
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
  onEvict(reason: EvictReason): void
  onL1Reset(): void
}

export async function buildStore(config: StorageConfig, deps: StoreDeps): Promise<BuiltStore> {
  const { clock } = deps
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
    }
  }
  const [{ createRedisStore }, { createRedisBus }] = await Promise.all([
    import('./storage/redis-store.ts'),
    import('./storage/redis-bus.ts'),
  ])
  const redis = config.redis
  const url = redis.url === undefined ? undefined : withPassword(redis.url, redis.password)
  const cluster = redis.cluster.map((seed) => withPassword(seed, redis.password))
  const remote = createRedisStore({
    url,
    cluster: cluster.length > 0 ? cluster : undefined,
    keyPrefix: redis.keyPrefix,
    commandTimeoutMs: redis.commandTimeout,
    maxObjectBytes: config.memory.maxObjectBytes,
    clock,
    onError: throttled(10_000, clock, (err: unknown) => deps.log.warn({ err }, 'redis connection error')),
  })
  const breaker = createCircuitBreaker({
    clock,
    onStateChange: (state, err) => deps.log.warn({ state, err }, `redis circuit ${state}`),
  })
  const state = () => breakerState(breaker)
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
    return {
      store: guardStore(remote, breaker),
      fills: fills(),
      maxObjectBytes: config.memory.maxObjectBytes,
      state,
    }
  }
  const l1 = createMemoryStore({
    maxBytes: config.memory.maxBytes,
    maxObjectBytes: config.memory.maxObjectBytes,
    clock,
    onEvict: (_key, reason) => deps.onEvict(reason),
  })
  const bus = createRedisBus({ url, cluster, keyPrefix: redis.keyPrefix, log: deps.log })
  const store = new TieredStore({ l1, l2: remote, bus, breaker, log: deps.log, onL1Reset: deps.onL1Reset })
  return { store, fills: fills(bus), maxObjectBytes: config.memory.maxObjectBytes, state }
}

function breakerState(breaker: CircuitBreaker) {
  const s = breaker.state()
  return {
    state: s === 'closed' ? ('up' as const) : s === 'open' ? ('down' as const) : ('degraded' as const),
    lastError: breaker.lastError() ?? null,
  }
}

/** The password from config goes into the connection URL, unless the URL has its own. */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url
  const u = new URL(url)
  if (u.password === '') u.password = encodeURIComponent(password)
  return u.toString()
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
