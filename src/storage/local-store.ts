/**
 * The local store: one cache for every worker of a host, in an LMDB file under a cache
 * directory, that survives restarts. Every process opens the same file; a write is one
 * LMDB transaction, so another worker's next lookup sees all of it or none of it, and a
 * killed process leaves only whole entries. It holds at most `maxBytes` as it counts bytes,
 * evicting with SIEVE, and keeps its tag index and purge log in the file too, so a purge is
 * one transaction whichever worker runs it. Like every store it knows nothing of HTTP.
 *
 * This class opens the file, runs the write transactions and delegates the rest: the file
 * and its layout (local-file.ts), entries' rows (local-entries.ts), lookups and decoded
 * copies (local-lookup.ts), eviction (local-eviction.ts) and purges (local-purge.ts).
 */
import { type Clock, systemClock } from '../clock.ts'
import { entrySize, LocalEntries } from './local-entries.ts'
import { LocalEviction } from './local-eviction.ts'
import {
  dataFileBytes,
  type LocalFile,
  latestTotals,
  openLocalFile,
  readTotals,
  type Totals,
  usedFileBytes,
  writeTotals,
} from './local-file.ts'
import { lmdbKey } from './local-keys.ts'
import { sweepLeftRows } from './local-left-rows.ts'
import { LocalLookup } from './local-lookup.ts'
import { LocalPurge } from './local-purge.ts'
import { purgeVerdict } from './local-purge-log.ts'
import { decodeRecord } from './local-record.ts'
import { checkLocalOptions, type LocalStoreOptions } from './local-store-options.ts'
import type { CacheStore, PurgeOptions, PurgeSelector, StoredEntry, StoreStats } from './store.ts'
import { uniqueTags } from './tag-index.ts'

export { entrySize } from './local-entries.ts'
export { IncompatibleStoreError } from './local-file.ts'
export type { LocalStoreOptions } from './local-store-options.ts'

/** How often pending visited marks are written when the process writes nothing else. */
const VISIT_FLUSH_MS = 1_000
const READER_CHECK_MS = 30_000
/** Writes between two looks at the file's size; a fill is at most maxObjectBytes. */
const FILE_CHECK_EVERY = 16
/** Share of mapBytes the file's pages may reach before writes make room first. */
const FILE_FULL = 0.7

/**
 * A {@link CacheStore} in an LMDB file shared by every process that opens the same
 * directory. Build one with {@link createLocalStore}.
 */
export class LocalStore implements CacheStore {
  /** `get` is `peek`: what peek does not find is not here. */
  readonly peekSeesAll = true
  readonly #file: LocalFile
  readonly #entries: LocalEntries
  readonly #lookups: LocalLookup
  readonly #eviction: LocalEviction
  readonly #purge: LocalPurge
  readonly #clock: Clock
  readonly #path: string
  readonly #maxBytes: number
  readonly #maxObjectBytes: number
  readonly #mapBytes: number
  /** The file's high-water mark when this process last wrote: LMDB never shrinks it. */
  #fileSeen = 0
  #writes = 0
  #sweeping = false
  readonly #timers: NodeJS.Timeout[] = []
  #closed = false

  constructor(options: LocalStoreOptions) {
    const checked = checkLocalOptions(options)
    this.#clock = checked.clock ?? systemClock
    this.#path = checked.path
    this.#maxBytes = checked.maxBytes
    this.#maxObjectBytes = checked.maxObjectBytes
    this.#mapBytes = checked.mapBytes
    this.#file = openLocalFile(checked.path, checked.mapBytes)
    this.#entries = new LocalEntries(this.#file, checked.onEvict)
    const eviction = new LocalEviction(this.#file, this.#entries, checked.maxBytes)
    this.#eviction = eviction
    this.#purge = new LocalPurge(this.#file, this.#entries, {
      windowMs: checked.purgeLogWindowMs,
      maxRecords: checked.purgeLogMaxRecords,
    })
    this.#lookups = new LocalLookup({
      file: this.#file,
      entries: this.#entries,
      clock: this.#clock,
      copyBytes: checked.copyBytes,
      visit: (id) => eviction.visit(id),
    })
    const visits = setInterval(() => this.#flushVisitsNow(), VISIT_FLUSH_MS)
    // A worker that died left its reader slot behind; LMDB clears dead ones on request.
    const readers = setInterval(() => this.#file.root.readerCheck(), READER_CHECK_MS)
    for (const timer of [visits, readers]) {
      timer.unref()
      this.#timers.push(timer)
    }
    // A process that purged may have ended before it swept what the purge left.
    if (latestTotals(this.#file).leftRows > 0) this.#sweepLater()
  }

  /** The entry under `key`, read from the file without waiting. */
  peek(key: string): StoredEntry | undefined {
    return this.#lookups.peek(key)
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    return this.peek(key)
  }

  async set(key: string, entry: StoredEntry): Promise<boolean> {
    const now = this.#clock.now()
    const lkey = lmdbKey(key)
    const meta = JSON.stringify(entry.meta)
    const tags = uniqueTags(entry.tags)
    // NaN-safe: a missing or invalid expiresAt is refused like an expired one.
    const size = entrySize(key, meta, tags, entry.body.length)
    if (!(entry.expiresAt > now) || size > this.#maxObjectBytes) return this.#refuse(lkey)
    return this.#write((totals) => {
      let invalidatedAt = entry.invalidatedAt
      if (entry.fetchedAt !== undefined) {
        const verdict = purgeVerdict(this.#file.purges, totals, key, tags, entry.fetchedAt)
        if (verdict.kind === 'refuse') {
          this.#entries.removeIfThere(lkey, totals, 'replace')
          return false
        }
        if (verdict.kind === 'invalidate' && !((invalidatedAt ?? Number.NaN) <= verdict.at)) {
          invalidatedAt = verdict.at
        }
      }
      this.#entries.removeIfThere(lkey, totals, 'replace')
      this.#eviction.makeRoom(size, totals, now)
      this.#entries.add({ key, lkey, entry, meta, tags, invalidatedAt, size }, totals)
      return true
    })
  }

  async delete(key: string): Promise<boolean> {
    const lkey = lmdbKey(key)
    return this.#write((totals) => this.#entries.removeIfThere(lkey, totals, 'delete'))
  }

  async clear(): Promise<void> {
    this.#write((totals) => {
      const { entries, chunks, tags, queue, left } = this.#file
      for (const db of [entries, chunks, tags, queue, left]) db.clearSync()
      // Not a purge: the purge log stays as it is (see the contract).
      Object.assign(totals, {
        entries: 0,
        bytes: 0,
        tags: 0,
        memberships: 0,
        hand: 0,
        leftRows: 0,
        leftBytes: 0,
      })
    })
    this.#lookups.clear()
  }

  async purge(selector: PurgeSelector, options: PurgeOptions): Promise<number> {
    const now = this.#clock.now()
    let leftBehind = false
    const purged = this.#write((totals) => {
      const purged = this.#purge.run(totals, now, selector, options)
      leftBehind = totals.leftRows > 0
      return purged
    })
    if (leftBehind) this.#sweepLater()
    return purged
  }

  /**
   * Drops what a purge left behind, one batch per write transaction, until none is left;
   * resolves with how many batches it swept. The store does this by itself after a purge,
   * between other work; this is for tests and tools that want it done now.
   */
  async sweep(): Promise<number> {
    let batches = 0
    while (await this.sweepBatch()) batches++
    return batches
  }

  /** Sweeps one batch of what purges left behind, in one write transaction; false when none was left. */
  async sweepBatch(): Promise<boolean> {
    return this.#write((totals) => this.#sweepBatch(totals))
  }

  async keysForTag(tag: string): Promise<string[]> {
    const { root, tags, entries } = this.#file
    root.resetReadTxn()
    const now = this.#clock.now()
    const keys: string[] = []
    for (const lkey of tags.getValues(lmdbKey(tag))) {
      const raw = entries.getBinary(lkey)
      if (raw === undefined) continue
      const record = decodeRecord(raw)
      // A row left behind by a purge names a key stored again without the tag.
      if (record.expiresAt > now && record.tags.includes(tag)) keys.push(record.key)
    }
    return keys
  }

  stats(): StoreStats {
    const { entries, bytes, leftBytes, tags, memberships } = latestTotals(this.#file)
    return { entries, bytes: bytes + leftBytes, tags, taggedKeys: memberships }
  }

  /** The byte bound live entries stay within. */
  get maxBytes(): number {
    return this.#maxBytes
  }

  /** Size of the data file on disk; writes make room once it nears `mapBytes` (see #write). */
  fileBytes(): number {
    return dataFileBytes(this.#path)
  }

  /** The size the data file is kept within. */
  get mapBytes(): number {
    return this.#mapBytes
  }

  /**
   * Reads every record and its chunks' keys; a problem's description, or undefined when all
   * is whole. For the start-up check (local-check.ts), not the request path.
   */
  verify(): string | undefined {
    return this.#entries.verify()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    for (const timer of this.#timers) clearInterval(timer)
    this.#flushVisitsNow()
    this.#closed = true
    this.#lookups.close()
    await this.#file.root.close()
  }

  /**
   * Runs `change` in one write transaction with the store's totals, and writes them back.
   * Pending visited marks go in first.
   *
   * The file. lmdb-js grows LMDB's map when it fills rather than failing, so the bound on
   * the file is ours to keep. LMDB reuses freed pages and never shrinks the file; its
   * high-water mark is the last page in use. Each time that mark has grown past FILE_FULL
   * of `mapBytes` (B-tree pages half full, pages freed while a reader still saw them), an
   * quarter of the live bytes is evicted, so later writes reuse their pages instead of
   * appending (once no reader sees them: readers of dead processes are cleared first).
   */
  #write<T>(change: (totals: Totals) => T): T {
    if (this.#closed) throw new Error('local store: closed')
    const root = this.#file.root
    // This process's own snapshot would keep the pages this write frees from being reused.
    root.resetReadTxn()
    return root.transactionSync(() => {
      const totals = readTotals(this.#file)
      this.#eviction.writeVisits()
      // Reading the file's size costs more than a small write: look every few writes.
      const fileBytes = this.#writes++ % FILE_CHECK_EVERY === 0 ? usedFileBytes(this.#file) : this.#fileSeen
      if (fileBytes > this.#mapBytes * FILE_FULL && fileBytes > this.#fileSeen) {
        // A process killed mid-read leaves a reader slot that pins old pages: clear those
        // first, so what the eviction frees can be reused.
        root.readerCheck()
        this.#eviction.makeRoom(0, totals, this.#clock.now(), Math.floor((totals.bytes * 3) / 4))
      }
      this.#fileSeen = Math.max(this.#fileSeen, fileBytes)
      const result = change(totals)
      writeTotals(this.#file, totals)
      return result
    })
  }

  #refuse(lkey: Buffer): false {
    // A refused set still removes the entry it was meant to replace (see the contract).
    this.#write((totals) => this.#entries.removeIfThere(lkey, totals, 'replace'))
    return false
  }

  #sweepBatch(totals: Totals): boolean {
    const { left, tags, entries } = this.#file
    return sweepLeftRows(left, tags, entries, totals)
  }

  /** Sweeps what purges left behind, one batch per turn of the event loop, in this process. */
  #sweepLater(): void {
    if (this.#sweeping) return
    this.#sweeping = true
    const step = () => {
      if (this.#closed) return
      let more = false
      try {
        more = this.#write((totals) => totals.leftRows > 0 && this.#sweepBatch(totals))
      } catch (err) {
        // Left rows cost bytes and never a wrong answer; the next purge or open tries again.
        process.emitWarning(err instanceof Error ? err : String(err), { code: 'EDGECACHE_LOCAL_STORE_SWEEP' })
      }
      if (more) setImmediate(step)
      else this.#sweeping = false
    }
    setImmediate(step)
  }

  #flushVisitsNow(): void {
    if (!this.#closed) this.#eviction.flushVisits()
  }
}

/**
 * Opens (creating if need be) the local store in `options.path`.
 *
 * @example
 * const store = createLocalStore({ path: '.edgecache', maxBytes: 1 << 30 })
 * await store.set(key, { meta, body, expiresAt: Date.now() + 60_000 })
 * const hit = store.peek(key)
 */
export function createLocalStore(options: LocalStoreOptions): LocalStore {
  return new LocalStore(options)
}
