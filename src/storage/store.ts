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
}

export interface StoreStats {
  /** Entries held. */
  readonly entries: number
  /** Bytes held: bodies plus an estimate of keys and metadata. */
  readonly bytes: number
}

export interface CacheStore {
  /** The entry under `key`, or undefined when absent or past `expiresAt`. */
  get(key: string): Promise<StoredEntry | undefined>
  /**
   * Stores `entry` under `key`, replacing any entry there. An entry larger than the
   * store's object limit, or already expired, is not stored; resolves false then.
   */
  set(key: string, entry: StoredEntry): Promise<boolean>
  /** Removes `key`; resolves true when an entry was there. */
  delete(key: string): Promise<boolean>
  /** Removes everything. */
  clear(): Promise<void>
  stats(): StoreStats
  /** Releases what the store holds open. */
  close(): Promise<void>
}
