/**
 * The local store's lookups: reading an entry from the file without waiting, in a snapshot
 * of its own, and keeping this process's decoded copies of the entries it read. Reads only:
 * a hit is handed to `visit` and never writes (local-eviction.ts keeps it until a write).
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.ts'
import type { LocalEntries } from './local-entries.ts'
import type { LocalFile } from './local-file.ts'
import { lmdbKey } from './local-keys.ts'
import { LookupSnapshot } from './lmdb-snapshot.ts'
import {
  type DecodedRecord,
  decodeRecord,
  EXPIRES_AT_OFFSET,
  ID_OFFSET,
  INVALIDATED_AT_OFFSET,
} from './local-record.ts'
import type { StoredEntry } from './store.ts'

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
 */

/** Where a lookup finds what it needs: the file, the reads of chunked bodies, the clock. */
export interface LocalLookupDeps {
  readonly file: LocalFile
  readonly entries: LocalEntries
  readonly clock: Clock
  /** Bytes of decoded copies kept. */
  readonly copyBytes: number
  /** Told the id of each entry a lookup found. */
  readonly visit: (id: number) => void
}

/** Looks entries up in one store's file for this process. */
export class LocalLookup {
  readonly #file: LocalFile
  readonly #entries: LocalEntries
  readonly #clock: Clock
  readonly #visit: (id: number) => void
  readonly #copies: LRUCache<string, Copy>
  readonly #snapshot: LookupSnapshot
  /** A view of LMDB's reusable read buffer, made again only when lmdb-js replaces it. */
  #view: DataView | undefined

  /** Made once the file's databases are open: opening one ends lmdb-js's read transaction. */
  constructor({ file, entries, clock, copyBytes, visit }: LocalLookupDeps) {
    this.#file = file
    this.#entries = entries
    this.#clock = clock
    this.#visit = visit
    this.#copies = new LRUCache<string, Copy>({
      maxSize: copyBytes,
      sizeCalculation: (copy, key) => copy.entry.body.length + key.length + 512,
    })
    this.#snapshot = new LookupSnapshot(file.root)
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

  /** Forgets every decoded copy. */
  clear(): void {
    this.#copies.clear()
  }

  /** Before the file is closed. */
  close(): void {
    this.#copies.clear()
    this.#snapshot.close()
  }

  /** `peek` inside its snapshot: everything it returns is copied out of the file. */
  #lookup(key: string): StoredEntry | undefined {
    const copy = this.#copies.get(key)
    const lkey = copy?.lkey ?? lmdbKey(key)
    const raw = this.#snapshot.read(this.#file.entries, lkey)
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
      const assembled = this.#entries.readChunks(record, this.#snapshot)
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

  #viewOf(raw: Uint8Array): DataView {
    if (this.#view?.buffer !== raw.buffer) this.#view = new DataView(raw.buffer)
    return this.#view
  }
}
