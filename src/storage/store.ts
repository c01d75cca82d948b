/**
 * The contract every cache store keeps. A store holds entries under string keys: a small
 * metadata record it does not interpret, the body bytes, and the time after which it must
 * drop the entry. It knows nothing of HTTP: Vary, freshness and headers live in the engine.
 */

/** Metadata the cache engine keeps with an entry; must survive JSON.stringify / parse. */
export type EntryMeta = Readonly<Record<string, unknown>>

export interface StoredEntry {
  readonly meta: EntryMeta
  readonly body: Buffer
  /** Epoch ms after which the entry is gone: `get` no longer returns it. */
  readonly expiresAt: number
  /** Tags (surrogate keys) the entry can be purged by. */
  readonly tags?: readonly string[]
  /**
   * Epoch ms at which the content was fetched. A purge that matches the entry and happened
   * at or after this time wins over the `set`: a hard purge makes `set` refuse the entry, a
   * soft one stores it already invalidated. So a response fetched before a purge and stored
   * after it never survives the purge.
   */
  readonly fetchedAt?: number
  /** Set by a soft purge: epoch ms from which the entry must be treated as stale. */
  readonly invalidatedAt?: number
}

/** Which entries a purge reaches; several fields reach the union of their entries. */
export interface PurgeSelector {
  readonly tags?: readonly string[]
  /** Every key that starts with one of these strings. */
  readonly prefixes?: readonly string[]
  readonly all?: boolean
}

export interface PurgeOptions {
  /** Mark entries invalidated (at the store's now) instead of deleting them. */
  readonly soft: boolean
  /** Count what would be purged, change nothing. */
  readonly dryRun?: boolean
}

export interface StoreStats {
  /** Entries held. */
  readonly entries: number
  /** Bytes held: bodies plus an estimate of keys and metadata. */
  readonly bytes: number
  /** Distinct tags in the tag index. */
  readonly tags: number
  /** Key memberships in the tag index (sum over tags of their keys); bounded by live entries × tags each. */
  readonly taggedKeys: number
}

export interface CacheStore {
  /** The entry under `key`, or undefined when absent or past `expiresAt`. */
  get(key: string): Promise<StoredEntry | undefined>
  /**
   * The entry under `key` when this process holds it, read without I/O; undefined when it
   * does not, which for a store with a remote tier does not mean the entry is absent. A
   * store that holds nothing in-process leaves this out. Cache hits use it to answer
   * without waiting on a promise.
   */
  peek?(key: string): StoredEntry | undefined
  /**
   * True when `peek` sees everything `get` would (a store held wholly on this host): an
   * entry `peek` does not find is absent, so a miss need not ask `get` as well.
   */
  readonly peekSeesAll?: boolean
  /**
   * Stores `entry` under `key`, replacing any entry there. An entry larger than the
   * store's object limit, or already expired, is not stored; resolves false then.
   */
  set(key: string, entry: StoredEntry): Promise<boolean>
  /** Removes `key`; resolves true when an entry was there. */
  delete(key: string): Promise<boolean>
  /** Removes everything. */
  clear(): Promise<void>
  /** Hard or soft purge of the selected entries; resolves with how many were (or would be) purged. */
  purge(selector: PurgeSelector, options: PurgeOptions): Promise<number>
  /** Keys of the live entries carrying `tag`. */
  keysForTag(tag: string): Promise<string[]>
  stats(): StoreStats
  /** Releases what the store holds open. */
  close(): Promise<void>
}

/**
 * How a fill of one key ended, as its holder reports it: an entry was stored, the answer
 * may not be stored (waiters should go to the origin and not wait on this key for a
 * while), the fill gave up for its own reasons (its client went away, the store refused;
 * one waiter takes it over), or the origin failed it (`failed`: refused, reset or a 5xx;
 * `timed-out`), so waiters answer with that failure at once instead of trying again.
 */
export type FillResult = 'stored' | 'uncacheable' | 'abandoned' | 'failed' | 'timed-out'

/**
 * What a waiter learnt: the holder's own report, `released` (the claim ended without a
 * report, as when it expired), `timeout` (still held when the wait's bound passed) or
 * `unavailable` (the store could not be asked).
 */
export type FillOutcome = FillResult | 'released' | 'timeout' | 'unavailable'

/** What a waiter learnt, and the origin's status when the holder reported a 5xx it answered. */
export interface FillWaited {
  readonly outcome: FillOutcome
  readonly status?: number
}

/** A claim on filling one key, held by this instance until released or its time runs out. */
export interface FillLease {
  /**
   * Ends the claim (only if it is still this one's) and tells waiters how the fill ended,
   * with the origin's status when it answered a failure (a 5xx). Never rejects.
   */
  release(result: FillResult, status?: number): Promise<void>
}

/**
 * The optional capability of a store shared by several instances: a short lock per key, so
 * concurrent misses on different instances make one origin request. A store used by one
 * process only has none (the in-process collapser already covers it). Keys and results
 * only: what a fill is, and when to claim one, is the cache stage's business.
 */
export interface FillLocks {
  /**
   * Claims the fill of `key` for at most `ttlMs`; resolves undefined when another instance
   * holds it. Rejects at once when the store is unreachable (callers then fetch anyway).
   */
  acquireFill(key: string, ttlMs: number): Promise<FillLease | undefined>
  /** Waits until the claim on `key` ends or `waitMs` passes. Never rejects. */
  waitForFill(key: string, waitMs: number): Promise<FillWaited>
}
