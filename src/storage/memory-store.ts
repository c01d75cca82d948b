/**
 * The embedded default store: a byte-bounded LRU in this process's memory, built on
 * lru-cache. It never holds more than `maxBytes` as it counts bytes, and takes the time
 * only from the injected clock. Like every store it knows nothing of HTTP.
 */
import { LRUCache } from 'lru-cache'
import { type Clock, systemClock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'
import type { CacheStore, StoredEntry, StoreStats } from './store.ts'

/**
 * Why an entry left the store: `evict` (pushed out to make room), `expire` (past its
 * `expiresAt`), `delete` (`delete` or `clear`), `replace` (a `set` under its key, including
 * a refused one).
 */
export type EvictReason = 'evict' | 'expire' | 'delete' | 'replace'

export interface MemoryStoreOptions {
  /**
   * Most bytes held, counted as `stats().bytes` counts them: body, key, metadata
   * estimate and a fixed per-entry overhead.
   * @default 268_435_456 (256 MiB)
   */
  readonly maxBytes?: number
  /**
   * Largest single entry, counted the same way; a bigger one is refused. At most `maxBytes`.
   * @default the smaller of 8 MiB and `maxBytes`
   */
  readonly maxObjectBytes?: number
  /** Where the store reads the time; `expiresAt` is compared with it. @default systemClock */
  readonly clock?: Clock
  /**
   * How often expired entries nobody asked for are swept out; 0 turns the sweep off
   * (they then leave when read or when room is needed).
   * @default 60_000
   */
  readonly sweepIntervalMs?: number
  /**
   * Called once for every entry that leaves the store, whatever the reason, after it has
   * left (for `replace`, the key may already hold the new entry). It may call the store.
   * It must not throw: an error propagates out of the store call that removed the entry.
   */
  readonly onEvict?: (key: string, reason: EvictReason) => void
}

const MiB = 1024 * 1024
const DEFAULT_MAX_BYTES = 256 * MiB
const DEFAULT_MAX_OBJECT_BYTES = 8 * MiB
const DEFAULT_SWEEP_INTERVAL_MS = 60_000

/**
 * Bytes counted for each entry besides its body, key and metadata: the entry and Buffer
 * objects, the key map and lru-cache's per-slot arrays. Measured on Node 20 at about 385
 * bytes of heap per entry with an empty body and an 8-character key. Without it a flood
 * of tiny entries would take far more memory than `maxBytes` says.
 */
const ENTRY_OVERHEAD_BYTES = 384

/*
 * Expiry and the two clocks. lru-cache tracks TTLs with its own time source; we hand it
 * our clock as `perf`, so a fake clock drives both our check and lru-cache's, and set
 * `ttlResolution: 0`, because otherwise lru-cache reuses one reading for a millisecond of
 * real time (and schedules a timer per reading), which a fake clock cannot move.
 *
 * lru-cache calls an entry stale when `now > start + ttl`, that is `now > expiresAt`; the
 * contract says it is gone from `now >= expiresAt`, so `peek` checks that last millisecond
 * itself. We do not use `ttlAutopurge`: it arms a real timer per entry, costly and deaf to
 * a fake clock. A periodic `purgeStale()` sweep removes expired entries nobody reads;
 * until then they still count towards `maxBytes`, so LRU pressure removes them too and
 * memory stays bounded either way.
 */

/**
 * An in-process, byte-bounded LRU {@link CacheStore}. Entries are kept by reference: the
 * caller must not mutate a body Buffer or meta object after `set` or after reading it.
 * Build one with {@link createMemoryStore}.
 */
export class MemoryStore implements CacheStore {
  readonly #lru: LRUCache<string, StoredEntry>
  readonly #clock: Clock
  readonly #maxObjectBytes: number
  #sweepTimer: NodeJS.Timeout | undefined
  /** The key `#remove` is taking out and why, so the eviction hook gets our reason. */
  #removing: { key: string; reason: EvictReason } | undefined

  constructor(options: MemoryStoreOptions = {}) {
    const { maxBytes, maxObjectBytes, clock, sweepIntervalMs, onEvict } = checkOptions(options)
    this.#clock = clock
    this.#maxObjectBytes = maxObjectBytes
    this.#lru = new LRUCache<string, StoredEntry>({
      maxSize: maxBytes,
      maxEntrySize: maxObjectBytes,
      perf: clock,
      ttlResolution: 0,
      // disposeAfter, not dispose: it runs once lru-cache's state is consistent, so the
      // hook may call back into the store.
      ...(onEvict && {
        disposeAfter: (_entry: StoredEntry, key: string, reason: LRUCache.DisposeReason) => {
          const removing = this.#removing
          onEvict(key, removing?.key === key ? removing.reason : evictReasonOf(reason))
        },
      }),
    })
    if (sweepIntervalMs > 0) {
      this.#sweepTimer = setInterval(() => this.#sweep(), sweepIntervalMs)
      this.#sweepTimer.unref()
    }
  }

  /**
   * The entry under `key`, or undefined when absent or expired, synchronously. Same
   * semantics as `get`: a hit refreshes the entry's recency and an expired entry is
   * removed. (Unlike lru-cache's `peek`, which does neither.)
   */
  peek(key: string): StoredEntry | undefined {
    const entry = this.#lru.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#clock.now()) {
      this.#remove(key, 'expire')
      return undefined
    }
    return entry
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    return this.peek(key)
  }

  async set(key: string, entry: StoredEntry): Promise<boolean> {
    const now = this.#clock.now()
    // NaN-safe: a missing or invalid expiresAt is refused like an expired one.
    if (!(entry.expiresAt > now)) return this.#refuse(key)
    const size = entrySize(key, entry)
    if (size > this.#maxObjectBytes) return this.#refuse(key)
    this.#lru.set(key, entry, { size, ttl: entry.expiresAt - now, start: now })
    return true
  }

  async delete(key: string): Promise<boolean> {
    return this.#remove(key, 'delete')
  }

  async clear(): Promise<void> {
    this.#lru.clear()
  }

  stats(): StoreStats {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }

  /** Stops the expiry sweep. Entries stay readable; the store holds nothing else open. */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer)
    this.#sweepTimer = undefined
  }

  /** A refused set still removes the entry it was meant to replace (see the contract). */
  #refuse(key: string): false {
    this.#remove(key, 'replace')
    return false
  }

  #remove(key: string, reason: EvictReason): boolean {
    this.#removing = { key, reason }
    try {
      return this.#lru.delete(key)
    } finally {
      this.#removing = undefined
    }
  }

  #sweep(): void {
    try {
      this.#lru.purgeStale()
    } catch (err) {
      // Only a throwing onEvict lands here. No logger reaches the store; a warning is
      // visible without taking the process down from a timer.
      process.emitWarning(err instanceof Error ? err : String(err), { code: 'EDGECACHE_MEMORY_STORE_SWEEP' })
    }
  }
}

/**
 * Creates an in-process, byte-bounded LRU store.
 *
 * @example
 * const store = createMemoryStore({ maxBytes: 64 * 1024 * 1024, onEvict: (key) => tags.forget(key) })
 * await store.set(key, { meta, body, expiresAt: clock.now() + 60_000 })
 * const hit = store.peek(key)
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options)
}

/** Bytes an entry is counted as: body, key (one per UTF-16 unit), JSON meta, overhead. */
function entrySize(key: string, entry: StoredEntry): number {
  // One stringify per set: cheap next to storing the body, and it also rejects metadata
  // that would not survive JSON, as it would not in Redis.
  return entry.body.length + key.length + JSON.stringify(entry.meta).length + ENTRY_OVERHEAD_BYTES
}

function evictReasonOf(reason: LRUCache.DisposeReason): EvictReason {
  switch (reason) {
    case 'evict':
      return 'evict'
    case 'expire':
      return 'expire'
    case 'set':
      return 'replace'
    // 'fetch' needs a fetchMethod, which this store never sets.
    case 'delete':
    case 'fetch':
      return 'delete'
  }
}

interface CheckedOptions {
  readonly maxBytes: number
  readonly maxObjectBytes: number
  readonly clock: Clock
  readonly sweepIntervalMs: number
  readonly onEvict: MemoryStoreOptions['onEvict']
}

function checkOptions(options: MemoryStoreOptions): CheckedOptions {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (!isPositiveInteger(maxBytes)) invalid(`maxBytes must be a positive integer, got ${show(maxBytes)}`)

  const maxObjectBytes = options.maxObjectBytes ?? Math.min(DEFAULT_MAX_OBJECT_BYTES, maxBytes)
  if (!isPositiveInteger(maxObjectBytes)) {
    invalid(`maxObjectBytes must be a positive integer, got ${show(maxObjectBytes)}`)
  }
  if (maxObjectBytes > maxBytes) {
    invalid(`maxObjectBytes must be <= maxBytes (${maxBytes}), got ${maxObjectBytes}`)
  }

  const clock = options.clock ?? systemClock
  if (typeof clock?.now !== 'function') invalid(`clock must have a now() method, got ${show(clock)}`)

  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 0) {
    invalid(`sweepIntervalMs must be a non-negative integer, got ${show(sweepIntervalMs)}`)
  }

  const { onEvict } = options
  if (onEvict !== undefined && typeof onEvict !== 'function') {
    invalid(`onEvict must be a function, got ${show(onEvict)}`)
  }

  return { maxBytes, maxObjectBytes, clock, sweepIntervalMs, onEvict }
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function invalid(problem: string): never {
  throw new EdgecacheError('EC_ERR_CONFIG_INVALID', [`memory store: ${problem}`])
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (value !== null && typeof value === 'object') return 'an object'
  return String(value)
}
