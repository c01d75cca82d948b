/**
 * The local store: one cache for every worker of a host, in an LMDB file under a cache
 * directory, that survives restarts. Every process opens the same file; a write is one
 * LMDB transaction, so another worker's next lookup sees all of it or none of it, and a
 * killed process leaves only whole entries. It holds at most `maxBytes` as it counts bytes,
 * evicting with SIEVE, and keeps its tag index and purge log in the file too, so a purge is
 * one transaction whichever worker runs it. Like every store it knows nothing of HTTP.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import { type Database, open, type RootDatabase } from 'lmdb'
import { type Clock, systemClock } from '../clock.ts'
import { checkLocalOptions, type LocalStoreOptions } from './local-store-options.ts'
import { chunkKey, idKey, idOfKey, lmdbKey, prefixRanges } from './local-keys.ts'
import { LeftRows, type LeftRowTotals, sweepLeftRows } from './local-left-rows.ts'
import { LookupSnapshot } from './lmdb-snapshot.ts'
import { type PurgeRecordBody, type PurgeTotals, purgeVerdict, recordPurge } from './local-purge-log.ts'
import {
  type DecodedRecord,
  decodeRecord,
  decodeRecordHead,
  encodeRecord,
  RECORD_FORMAT,
  EXPIRES_AT_OFFSET,
  ID_OFFSET,
  INVALIDATED_AT_OFFSET,
  type RecordHead,
  recordExpiresAt,
  recordVersion,
  withInvalidatedAt,
} from './local-record.ts'
import type { EvictReason } from './memory-store-options.ts'
import type { CacheStore, PurgeOptions, PurgeSelector, StoredEntry, StoreStats } from './store.ts'
import { uniqueTags } from './tag-index.ts'

export type { LocalStoreOptions } from './local-store-options.ts'

/** What the store counts, kept in the file and changed only inside write transactions. */
interface Totals extends PurgeTotals, LeftRowTotals {
  entries: number
  /** Bytes of live entries; with leftBytes, what is held within maxBytes. */
  bytes: number
  /** Distinct tags with rows in the index, including tags whose only rows are left ones. */
  tags: number
  /** Tags of live entries (left rows are not counted). */
  memberships: number
  /** The next entry id; ids only grow, so the eviction queue is in insertion order. */
  nextId: number
  /** Where SIEVE's hand stands in the queue: the id it looks at next. */
  hand: number
}

const INITIAL_TOTALS: Totals = {
  entries: 0,
  bytes: 0,
  tags: 0,
  memberships: 0,
  leftRows: 0,
  leftBytes: 0,
  leftSeq: 0,
  nextId: 1,
  hand: 0,
  purgeSeq: 0,
  purgeCount: 0,
  lastPurgeAt: 0,
  forgottenUntil: null,
}

/**
 * The eviction queue's rows: id → one byte, 1 when the entry was visited since the hand
 * last passed, then the entry's LMDB key. Bumped with any change to them (see LAYOUT).
 */
const QUEUE_FORMAT = 2
const UNVISITED = 0
const VISITED = 1

/**
 * The tag index: 2 since its rows may outlive their entry's membership (local-left-rows.ts).
 * An older edgecache must not open such a file: it would trust every row.
 */
const INDEX_FORMAT = 2

/** What the file says it is; another value means another edgecache wrote it. */
const LAYOUT = `edgecache-local-${RECORD_FORMAT}.${QUEUE_FORMAT}.${INDEX_FORMAT}`
/** Layouts this one reads as they are: a file of index format 1 simply has no left rows. */
const UPGRADABLE_LAYOUTS: readonly unknown[] = [`edgecache-local-${RECORD_FORMAT}.${QUEUE_FORMAT}`]

/** LMDB's page: values larger than about half of one go to pages of their own. */
const PAGE_BYTES = 4_096
const INLINE_MAX_BYTES = 2_000
/** Body bytes per chunk: 16 pages each, less LMDB's overflow header. */
const CHUNK_BYTES = 16 * PAGE_BYTES - 64
/** Counted per entry besides its record: its B-tree node, queue slot and state. */
const ENTRY_OVERHEAD_BYTES = 160
/** Counted per tag of an entry besides the tag's bytes: its row in the tag index. */
const TAG_OVERHEAD_BYTES = 48

/** Hits remembered between write transactions for SIEVE's visited marks; more are dropped. */
const MAX_PENDING_VISITS = 16_384
/** How often pending visited marks are written when the process writes nothing else. */
const VISIT_FLUSH_MS = 1_000
const READER_CHECK_MS = 30_000
/** Writes between two looks at the file's size; a fill is at most maxObjectBytes. */
const FILE_CHECK_EVERY = 16
/** A soft purge rewrites each record; those up to this size go through one buffer. */
const SOFT_SCRATCH_BYTES = CHUNK_BYTES + 4_096
/** Queue slots the eviction hand reads at a time. */
const EVICTION_BATCH = 64
/** Share of mapBytes the file's pages may reach before writes make room first. */
const FILE_FULL = 0.7

const NO_TAGS: readonly string[] = Object.freeze([])
const NO_TAG_SET: ReadonlySet<string> = new Set()

/** A decoded entry this process keeps, good while the stored record has the same version. */
interface Copy {
  /** The key as LMDB names it, kept so that a hit does not encode it again. */
  readonly lkey: Buffer
  readonly id: number
  readonly invalidatedAt: number
  readonly entry: StoredEntry
}

/*
 * Seeing other workers' writes. LMDB readers work on a snapshot; lmdb-js renews it on a
 * later timer tick, so a lookup right after another worker's commit could miss it, or serve
 * what it just purged. Every lookup therefore reads from a snapshot taken when it begins
 * (lmdb-snapshot.ts, about 0.3 µs). A write transaction always sees the latest commit.
 *
 * Decoded copies. Decoding a record (JSON metadata, a copy of the body out of the map) costs
 * more than reading it, so each process keeps recently read entries decoded, bounded by
 * `copyBytes`. A copy is used only after the record is read and found to have the same id
 * and invalidatedAt: any set gives a new id, a soft purge a new invalidatedAt, and a delete
 * leaves no record. Bodies are always copies, never LMDB's reusable read buffer, so a socket
 * write may hold them as long as it likes.
 *
 * Eviction: SIEVE over a queue of entry ids in insertion order, each row holding the
 * entry's visited mark and key. A hit marks the entry visited; the hand walks from the oldest, clearing marks and evicting the first unmarked
 * (or expired) entry. A hit must not pay for a write transaction, so its mark waits in
 * memory until this process next writes (a fill, a purge) or for at most VISIT_FLUSH_MS.
 * Each mark cleared is one a hit set, so eviction costs O(1) amortised per fill.
 */

/**
 * A {@link CacheStore} in an LMDB file shared by every process that opens the same
 * directory. Build one with {@link createLocalStore}.
 */
export class LocalStore implements CacheStore {
  readonly #root: RootDatabase
  readonly #entries: Database<Buffer, Buffer>
  readonly #chunks: Database<Buffer, Buffer>
  readonly #tags: Database<Buffer, Buffer>
  readonly #queue: Database<Buffer, Buffer>
  readonly #left: Database<Buffer, Buffer>
  readonly #purges: Database<PurgeRecordBody, Buffer>
  readonly #state: Database<unknown, string>
  readonly #clock: Clock
  readonly #path: string
  readonly #maxBytes: number
  readonly #maxObjectBytes: number
  readonly #mapBytes: number
  readonly #purgeWindowMs: number
  readonly #purgeMaxRecords: number
  readonly #onEvict: ((key: string, reason: EvictReason) => void) | undefined
  readonly #copies: LRUCache<string, Copy>
  readonly #snapshot: LookupSnapshot
  #pendingVisits = new Set<number>()
  /** A view of LMDB's reusable read buffer, made again only when lmdb-js replaces it. */
  #view: DataView | undefined
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
    this.#purgeWindowMs = checked.purgeLogWindowMs
    this.#purgeMaxRecords = checked.purgeLogMaxRecords
    this.#onEvict = checked.onEvict
    this.#copies = new LRUCache<string, Copy>({
      maxSize: checked.copyBytes,
      sizeCalculation: (copy, key) => copy.entry.body.length + key.length + 512,
    })
    // noSync: a process that dies leaves its commits in the page cache, whole; only a
    // crash of the host can lose or damage recent ones, and then the directory is set
    // aside at start (local-directory.ts). A sync per fill would cost 0.4 ms here.
    this.#root = open({
      path: join(checked.path, 'store'),
      mapSize: checked.mapBytes,
      maxDbs: 9,
      noSync: true,
      overlappingSync: false,
      pageSize: PAGE_BYTES,
    })
    const binary = { encoding: 'binary', keyEncoding: 'binary' } as const
    this.#entries = this.#root.openDB({ name: 'entries', ...binary })
    this.#chunks = this.#root.openDB({ name: 'chunks', ...binary })
    this.#tags = this.#root.openDB({ name: 'tags', ...binary, dupSort: true })
    this.#queue = this.#root.openDB({ name: 'queue', ...binary })
    this.#left = this.#root.openDB({ name: 'left', ...binary })
    this.#purges = this.#root.openDB({ name: 'purges', encoding: 'json', keyEncoding: 'binary' })
    this.#state = this.#root.openDB({ name: 'state', encoding: 'json' })
    this.#checkLayout()
    // After the databases are open: opening one ends lmdb-js's read transaction.
    this.#snapshot = new LookupSnapshot(this.#root)
    const visits = setInterval(() => this.#flushVisitsNow(), VISIT_FLUSH_MS)
    // A worker that died left its reader slot behind; LMDB clears dead ones on request.
    const readers = setInterval(() => this.#root.readerCheck(), READER_CHECK_MS)
    for (const timer of [visits, readers]) {
      timer.unref()
      this.#timers.push(timer)
    }
    // A process that purged may have ended before it swept what the purge left.
    if (this.#totals().leftRows > 0) this.#sweepLater()
  }

  /** The entry under `key`, read from the file without waiting. */
  peek(key: string): StoredEntry | undefined {
    const snapshot = this.#snapshot
    snapshot.begin()
    try {
      return this.#lookup(key)
    } finally {
      snapshot.end()
    }
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
        const verdict = purgeVerdict(this.#purges, totals, key, tags, entry.fetchedAt)
        if (verdict.kind === 'refuse') {
          this.#removeIfThere(lkey, totals, 'replace')
          return false
        }
        if (verdict.kind === 'invalidate' && !((invalidatedAt ?? Number.NaN) <= verdict.at)) {
          invalidatedAt = verdict.at
        }
      }
      this.#removeIfThere(lkey, totals, 'replace')
      this.#makeRoom(size, totals, now)
      const id = totals.nextId++
      const inline = entry.body.length <= CHUNK_BYTES
      const fields = {
        key,
        id,
        meta,
        tags,
        expiresAt: entry.expiresAt,
        fetchedAt: entry.fetchedAt,
        invalidatedAt,
        bodyBytes: entry.body.length,
        size,
        body: inline ? entry.body : undefined,
      }
      this.#entries.putSync(lkey, encodeRecord(fields))
      if (!inline) {
        for (let i = 0, at = 0; at < entry.body.length; i++, at += CHUNK_BYTES) {
          this.#chunks.putSync(chunkKey(id, i), entry.body.subarray(at, at + CHUNK_BYTES))
        }
      }
      this.#queue.putSync(idKey(id), Buffer.concat([Buffer.of(UNVISITED), lkey]))
      for (const tag of tags) {
        const tkey = lmdbKey(tag)
        if (!this.#tags.doesExist(tkey)) totals.tags++
        this.#tags.putSync(tkey, lkey)
        totals.memberships++
      }
      totals.entries++
      totals.bytes += size
      return true
    })
  }

  async delete(key: string): Promise<boolean> {
    const lkey = lmdbKey(key)
    return this.#write((totals) => this.#removeIfThere(lkey, totals, 'delete'))
  }

  async clear(): Promise<void> {
    this.#write((totals) => {
      for (const db of [this.#entries, this.#chunks, this.#tags, this.#queue, this.#left]) db.clearSync()
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
    this.#copies.clear()
  }

  async purge(selector: PurgeSelector, { soft, dryRun = false }: PurgeOptions): Promise<number> {
    const now = this.#clock.now()
    const reaches = reachOf(selector)
    let leftBehind = false
    const purged = this.#write((totals) => {
      if (!dryRun)
        recordPurge(this.#purges, totals, now, selector, soft, this.#purgeWindowMs, this.#purgeMaxRecords)
      const hard = !soft && !dryRun
      // A hard purge of everything empties the whole index; one by tag empties those tags:
      // their rows go at once, not one per entry. The entries' other rows are left behind.
      const everything = hard && selector.all === true
      const emptied = hard ? new Set(selector.tags) : NO_TAG_SET
      const left = new LeftRows(this.#left, totals)
      const scratch = soft && !dryRun ? Buffer.allocUnsafe(SOFT_SCRATCH_BYTES) : undefined
      // Every left row is listed, and counted until its batch is swept: with none counted,
      // each row of the index is current, so a key found by a tag carries it.
      const current = totals.leftRows === 0
      let purged = 0
      for (const lkey of this.#select(selector)) {
        // Not copied: read at once, and a soft purge copies it before it writes.
        const raw = this.#entries.getBinaryFast(lkey)
        if (current && !hard) {
          // A soft purge or a dry run then needs only the record's header, not its tags.
          if (raw === undefined) continue
          const live = recordExpiresAt(raw) > now
          if (live) purged++
          if (!dryRun && live && !(recordVersion(raw).invalidatedAt <= now)) {
            // lmdb-js copies the value into the map before putSync returns: one scratch does.
            this.#entries.putSync(lkey, withInvalidatedAt(raw, now, scratch))
          }
          continue
        }
        const record = raw === undefined ? undefined : decodeHeadOrStub(raw)
        if (raw === undefined || record === undefined || !reaches(record)) {
          // A row an earlier purge left behind: the key is gone or no longer carries the tag.
          if (soft && !dryRun) this.#dropRows(selector.tags ?? NO_TAGS, lkey, record, totals)
          continue
        }
        const live = record.expiresAt > now
        if (live) purged++
        if (dryRun) continue
        if (hard) {
          // Expired ones go too: they would have to leave anyway.
          this.#removePurged(lkey, record, totals, everything ? undefined : emptied, left)
        } else if (live && !((record.invalidatedAt ?? Number.NaN) <= now)) {
          this.#entries.putSync(lkey, withInvalidatedAt(raw, now, scratch))
        }
      }
      left.flush()
      if (everything) {
        for (const db of [this.#tags, this.#left]) db.clearSync()
        Object.assign(totals, { tags: 0, leftRows: 0, leftBytes: 0 })
      }
      for (const tag of emptied) {
        const tkey = lmdbKey(tag)
        if (this.#tags.doesExist(tkey) && this.#tags.removeSync(tkey)) totals.tags--
      }
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
    return this.#write((totals) => sweepLeftRows(this.#left, this.#tags, this.#entries, totals))
  }

  async keysForTag(tag: string): Promise<string[]> {
    this.#root.resetReadTxn()
    const now = this.#clock.now()
    const keys: string[] = []
    for (const lkey of this.#tags.getValues(lmdbKey(tag))) {
      const raw = this.#entries.getBinary(lkey)
      if (raw === undefined) continue
      const record = decodeRecord(raw)
      // A row left behind by a purge names a key stored again without the tag.
      if (record.expiresAt > now && record.tags.includes(tag)) keys.push(record.key)
    }
    return keys
  }

  stats(): StoreStats {
    const { entries, bytes, leftBytes, tags, memberships } = this.#totals()
    return { entries, bytes: bytes + leftBytes, tags, taggedKeys: memberships }
  }

  /** The byte bound live entries stay within. */
  get maxBytes(): number {
    return this.#maxBytes
  }

  /** Size of the data file on disk; writes make room once it nears `mapBytes` (see #write). */
  fileBytes(): number {
    try {
      return statSync(join(this.#path, 'store', 'data.mdb')).size
    } catch {
      return 0
    }
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
    this.#root.resetReadTxn()
    let entries = 0
    for (const { key, value } of this.#entries.getRange({})) {
      let record: DecodedRecord
      try {
        record = decodeRecord(value)
      } catch (err) {
        return `record ${entries} does not decode: ${(err as Error).message}`
      }
      if (!lmdbKey(record.key).equals(key)) return `record ${entries} is stored under another key`
      if (record.chunked && this.#readChunks(record) === undefined) return `record ${entries} misses a chunk`
      entries++
    }
    const counted = this.#totals().entries
    return entries === counted ? undefined : `${entries} records, ${counted} counted`
  }

  async close(): Promise<void> {
    if (this.#closed) return
    for (const timer of this.#timers) clearInterval(timer)
    this.#flushVisitsNow()
    this.#closed = true
    this.#copies.clear()
    this.#snapshot.close()
    await this.#root.close()
  }

  #checkLayout(): void {
    const layout = this.#state.get('layout')
    if (layout === LAYOUT) return
    if ((layout === undefined && this.#entries.getKeysCount() === 0) || UPGRADABLE_LAYOUTS.includes(layout)) {
      this.#state.putSync('layout', LAYOUT)
      return
    }
    throw new IncompatibleStoreError(
      `${this.#path} holds a store of another format (${String(layout ?? 'unknown')}, expected ${LAYOUT})`,
    )
  }

  /** The totals as of the latest commit, outside a write transaction. */
  #totals(): Totals {
    this.#root.resetReadTxn()
    return this.#readTotals()
  }

  /** The totals in the current transaction's view. */
  #readTotals(): Totals {
    return { ...INITIAL_TOTALS, ...(this.#state.get('totals') as Partial<Totals> | undefined) }
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
    // This process's own snapshot would keep the pages this write frees from being reused.
    this.#root.resetReadTxn()
    return this.#root.transactionSync(() => {
      const totals = this.#readTotals()
      this.#writeVisits()
      // Reading the file's size costs more than a small write: look every few writes.
      const fileBytes = this.#writes++ % FILE_CHECK_EVERY === 0 ? this.#usedFileBytes() : this.#fileSeen
      if (fileBytes > this.#mapBytes * FILE_FULL && fileBytes > this.#fileSeen) {
        // A process killed mid-read leaves a reader slot that pins old pages: clear those
        // first, so what the eviction frees can be reused.
        this.#root.readerCheck()
        this.#makeRoom(0, totals, this.#clock.now(), Math.floor((totals.bytes * 3) / 4))
      }
      this.#fileSeen = Math.max(this.#fileSeen, fileBytes)
      const result = change(totals)
      this.#state.putSync('totals', totals)
      return result
    })
  }

  /** Bytes of the file's pages in use or free for reuse: where the next new page would go. */
  #usedFileBytes(): number {
    return (this.#root.getStats() as { lastPageNumber: number }).lastPageNumber * PAGE_BYTES
  }

  #refuse(lkey: Buffer): false {
    // A refused set still removes the entry it was meant to replace (see the contract).
    this.#write((totals) => this.#removeIfThere(lkey, totals, 'replace'))
    return false
  }

  #removeIfThere(lkey: Buffer, totals: Totals, reason: EvictReason): boolean {
    const raw = this.#entries.getBinary(lkey)
    if (raw === undefined) return false
    this.#remove(lkey, decodeRecordOrStub(raw), totals, reason)
    return true
  }

  /**
   * Takes out an entry and everything that points to it. Tags in `emptied` are left to the
   * caller, which removes each whole (its count of memberships goes down here).
   */
  #remove(
    lkey: Buffer,
    record: DecodedRecord,
    totals: Totals,
    reason: EvictReason,
    emptied: ReadonlySet<string> = NO_TAG_SET,
  ): void {
    this.#entries.removeSync(lkey)
    if (record.chunked) {
      for (let i = 0; i * CHUNK_BYTES < record.bodyBytes; i++) this.#chunks.removeSync(chunkKey(record.id, i))
    }
    const id = idKey(record.id)
    this.#queue.removeSync(id)
    for (const tag of record.tags) {
      if (emptied.has(tag)) {
        totals.memberships--
        continue
      }
      const tkey = lmdbKey(tag)
      if (!this.#tags.removeSync(tkey, lkey)) continue
      totals.memberships--
      if (!this.#tags.doesExist(tkey)) totals.tags--
    }
    totals.entries--
    totals.bytes -= record.size
    this.#onEvict?.(record.key, reason)
  }

  /**
   * Takes out an entry a hard purge reaches, leaving its rows in tags other than `emptied`
   * (which the purge removes whole; undefined when it removes the whole index) to the sweep.
   */
  #removePurged(
    lkey: Buffer,
    record: RecordHead,
    totals: Totals,
    emptied: ReadonlySet<string> | undefined,
    left: LeftRows,
  ): void {
    let rows = 0
    if (emptied !== undefined) for (const tag of record.tags) if (!emptied.has(tag)) rows++
    // Copied into the batch before any other read reuses LMDB's read buffer.
    if (rows > 0) left.add(lkey, record.tagsJson, rows)
    this.#entries.removeSync(lkey)
    if (record.chunked) {
      for (let i = 0; i * CHUNK_BYTES < record.bodyBytes; i++) this.#chunks.removeSync(chunkKey(record.id, i))
    }
    this.#queue.removeSync(idKey(record.id))
    totals.memberships -= record.tags.length
    totals.entries--
    totals.bytes -= record.size
    this.#onEvict?.(record.key, 'delete')
  }

  /** Removes the rows of `tags` under `lkey` that its record (if any) does not carry. */
  #dropRows(tags: readonly string[], lkey: Buffer, record: RecordHead | undefined, totals: Totals): void {
    for (const tag of tags) {
      if (record?.tags.includes(tag)) continue
      const tkey = lmdbKey(tag)
      if (this.#tags.removeSync(tkey, lkey) && !this.#tags.doesExist(tkey)) totals.tags--
    }
  }

  /** Sweeps what purges left behind, one batch per turn of the event loop, in this process. */
  #sweepLater(): void {
    if (this.#sweeping) return
    this.#sweeping = true
    const step = () => {
      if (this.#closed) return
      let more = false
      try {
        more = this.#write(
          (totals) => totals.leftRows > 0 && sweepLeftRows(this.#left, this.#tags, this.#entries, totals),
        )
      } catch (err) {
        // Left rows cost bytes and never a wrong answer; the next purge or open tries again.
        process.emitWarning(err instanceof Error ? err : String(err), { code: 'EDGECACHE_LOCAL_STORE_SWEEP' })
      }
      if (more) setImmediate(step)
      else this.#sweeping = false
    }
    setImmediate(step)
  }

  /**
   * SIEVE: evicts until `size` more bytes fit within `limit`. The hand walks the queue from where it
   * stopped, oldest first, wrapping at the end; a visited entry loses its mark and stays.
   */
  #makeRoom(size: number, totals: Totals, now: number, limit = this.#maxBytes): void {
    let wrapped = 0
    // Rows a purge left behind count too, and go before any live entry does.
    while (totals.bytes + totals.leftBytes + size > limit && totals.leftBytes > 0) {
      if (!sweepLeftRows(this.#left, this.#tags, this.#entries, totals)) break
    }
    while (totals.bytes + totals.leftBytes + size > limit && totals.entries > 0) {
      const batch = Array.from(this.#queue.getRange({ start: idKey(totals.hand), limit: EVICTION_BATCH }))
      if (batch.length === 0) {
        // Past the newest: start again from the oldest. Two laps clear every mark.
        if (++wrapped > 2) break
        totals.hand = 0
        continue
      }
      const last = batch.length < EVICTION_BATCH ? batch.at(-1) : undefined
      for (const item of batch) {
        const { key: id, value: row } = item
        if (totals.bytes + totals.leftBytes + size <= limit) break
        const lkey = row.subarray(1)
        // Past the newest entry the hand goes back to the oldest, as SIEVE's does; left
        // at the next id, it would look first at the entry this fill is about to add.
        totals.hand = item === last ? 0 : idOfKey(id) + 1
        const raw = this.#entries.getBinary(lkey)
        if (raw === undefined) {
          // A queue slot whose entry is gone (it should not happen): drop it.
          this.#queue.removeSync(id)
          continue
        }
        const expired = !(recordExpiresAt(raw) > now)
        if (!expired && row[0] === VISITED) {
          this.#queue.putSync(id, Buffer.concat([Buffer.of(UNVISITED), lkey]))
          continue
        }
        this.#remove(lkey, decodeRecordOrStub(raw), totals, expired ? 'expire' : 'evict')
      }
    }
  }

  /** The LMDB keys a purge reaches, each once. */
  #select({ tags = NO_TAGS, prefixes = NO_TAGS, all = false }: PurgeSelector): Buffer[] {
    // One tag lists each key once: nothing to deduplicate (the usual purge).
    if (!all && tags.length === 1 && prefixes.length === 0) {
      return Array.from(this.#tags.getValues(lmdbKey(tags[0] as string)))
    }
    const found = new Map<string, Buffer>()
    const add = (lkey: Buffer) => found.set(lkey.toString('latin1'), lkey)
    if (all) {
      for (const lkey of this.#entries.getKeys({})) add(lkey)
      return [...found.values()]
    }
    for (const tag of tags) for (const lkey of this.#tags.getValues(lmdbKey(tag))) add(lkey)
    for (const prefix of prefixes) {
      for (const range of prefixRanges(prefix)) {
        for (const { key: lkey, value } of this.#entries.getRange(range)) {
          // A long key's head matched; its full key must too.
          if (lkey[0] === 0x68 && !decodeRecordOrStub(value).key.startsWith(prefix)) continue
          add(lkey)
        }
      }
    }
    return [...found.values()]
  }

  /** The entry a record holds, with its body copied out of the map; undefined if damaged. */
  #decode(key: string, raw: Uint8Array): StoredEntry | undefined {
    let record: DecodedRecord
    try {
      record = decodeRecord(raw)
    } catch {
      return undefined
    }
    if (record.key !== key) return undefined
    let body: Buffer
    if (!record.chunked) {
      body = Buffer.allocUnsafe(record.bodyBytes)
      body.set(new Uint8Array(raw.buffer, raw.byteOffset + record.bodyOffset, record.bodyBytes))
    } else {
      const assembled = this.#readChunks(record, this.#snapshot)
      if (assembled === undefined) return undefined
      body = assembled
    }
    return {
      meta: JSON.parse(record.meta) as StoredEntry['meta'],
      body,
      expiresAt: record.expiresAt,
      ...(record.tags.length > 0 && { tags: record.tags }),
      ...(record.fetchedAt !== undefined && { fetchedAt: record.fetchedAt }),
      ...(record.invalidatedAt !== undefined && { invalidatedAt: record.invalidatedAt }),
    }
  }

  /** A chunked body, whole, or undefined when a chunk is missing or short: never a partial body. */
  /** The body of a chunked record, read in a lookup's snapshot or, without one, lmdb-js's own. */
  #readChunks(record: DecodedRecord, snapshot?: LookupSnapshot): Buffer | undefined {
    const body = Buffer.allocUnsafe(record.bodyBytes)
    for (let i = 0, at = 0; at < record.bodyBytes; i++) {
      const ckey = chunkKey(record.id, i)
      const chunk =
        snapshot === undefined ? this.#chunks.getBinaryFast(ckey) : snapshot.read(this.#chunks, ckey)
      const expected = Math.min(CHUNK_BYTES, record.bodyBytes - at)
      if (chunk === undefined || chunk.length !== expected) return undefined
      body.set(new Uint8Array(chunk.buffer, chunk.byteOffset, expected), at)
      at += expected
    }
    return body
  }

  /** `peek` inside its snapshot: everything it returns is copied out of the file. */
  #lookup(key: string): StoredEntry | undefined {
    const copy = this.#copies.get(key)
    const lkey = copy?.lkey ?? lmdbKey(key)
    const raw = this.#snapshot.read(this.#entries, lkey)
    if (raw === undefined) return undefined
    // Read in place: LMDB's read buffer is reused, and a view per read would cost more.
    const view = this.#viewOf(raw)
    if (!(view.getFloat64(raw.byteOffset + EXPIRES_AT_OFFSET, true) > this.#clock.now())) return undefined
    const id = view.getFloat64(raw.byteOffset + ID_OFFSET, true)
    const invalidatedAt = view.getFloat64(raw.byteOffset + INVALIDATED_AT_OFFSET, true)
    if (copy !== undefined && copy.id === id && Object.is(copy.invalidatedAt, invalidatedAt)) {
      this.#visit(id)
      return copy.entry
    }
    const entry = this.#decode(key, raw)
    if (entry === undefined) return undefined
    this.#copies.set(key, { lkey, id, invalidatedAt, entry })
    this.#visit(id)
    return entry
  }

  #viewOf(raw: Uint8Array): DataView {
    if (this.#view?.buffer !== raw.buffer) this.#view = new DataView(raw.buffer)
    return this.#view
  }

  #visit(id: number): void {
    if (this.#pendingVisits.size < MAX_PENDING_VISITS) this.#pendingVisits.add(id)
  }

  /** Inside a write transaction: marks the entries hit since the last one as visited. */
  #writeVisits(): void {
    if (this.#pendingVisits.size === 0) return
    const visits = this.#pendingVisits
    this.#pendingVisits = new Set()
    for (const id of visits) {
      const key = idKey(id)
      const row = this.#queue.getBinary(key)
      if (row === undefined || row[0] === VISITED) continue
      row[0] = VISITED
      this.#queue.putSync(key, row)
    }
  }

  #flushVisitsNow(): void {
    if (this.#pendingVisits.size === 0 || this.#closed) return
    try {
      this.#root.transactionSync(() => this.#writeVisits())
    } catch (err) {
      // Marks only steer eviction; losing some costs hit ratio, not correctness.
      process.emitWarning(err instanceof Error ? err : String(err), { code: 'EDGECACHE_LOCAL_STORE_VISITS' })
    }
  }
}

/** The store under `path` was written by another version of edgecache (or is not one). */
export class IncompatibleStoreError extends Error {
  readonly code = 'EC_LOCAL_STORE_INCOMPATIBLE'
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

/**
 * Bytes an entry counts against maxBytes: its record, rounded to pages once it needs its own,
 * plus index overhead. `meta` is the metadata's JSON. Exported for the eviction benchmark,
 * whose exact LRU must count bytes as the store does.
 */
export function entrySize(key: string, meta: string, tags: readonly string[], bodyBytes: number): number {
  let record = 64 + Buffer.byteLength(key) + Buffer.byteLength(meta) + bodyBytes
  let tagBytes = 0
  for (const tag of tags) tagBytes += Buffer.byteLength(tag) * 2 + 4 + TAG_OVERHEAD_BYTES
  record += tagBytes
  if (record > INLINE_MAX_BYTES) record = Math.ceil(record / PAGE_BYTES) * PAGE_BYTES
  return record + ENTRY_OVERHEAD_BYTES
}

/**
 * A record read inside a write transaction. One that does not decode (it cannot happen in a
 * file this format wrote) is removed as an entry of no size, tags or chunks.
 */
function decodeRecordOrStub(raw: Uint8Array): DecodedRecord {
  try {
    return decodeRecord(raw)
  } catch {
    return {
      key: '',
      id: recordVersion(raw).id,
      meta: '',
      tags: NO_TAGS,
      expiresAt: 0,
      fetchedAt: undefined,
      invalidatedAt: undefined,
      bodyBytes: 0,
      size: 0,
      chunked: false,
      bodyOffset: 0,
    }
  }
}

/** Whether a purge by `selector` reaches the entry a record holds, however the purge found its key. */
function reachOf({
  tags = NO_TAGS,
  prefixes = NO_TAGS,
  all = false,
}: PurgeSelector): (record: RecordHead) => boolean {
  if (all) return () => true
  return (record) =>
    record.tags.some((tag) => tags.includes(tag)) || prefixes.some((prefix) => record.key.startsWith(prefix))
}

/** A record's head read inside a write transaction; a damaged record as in {@link decodeRecordOrStub}. */
function decodeHeadOrStub(raw: Uint8Array): RecordHead {
  try {
    return decodeRecordHead(raw)
  } catch {
    const { key, id, tags, expiresAt, invalidatedAt, bodyBytes, size, chunked } = decodeRecordOrStub(raw)
    return { key, id, tags, tagsJson: new Uint8Array(0), expiresAt, invalidatedAt, bodyBytes, size, chunked }
  }
}
