/**
 * The local store's entries as rows: writing one (its record, body chunks, queue slot and tag
 * rows), taking one out with everything that points to it, reading a chunked body back, and
 * checking every record for the start-up check. Runs inside the store's transactions (the
 * caller opens them) and keeps the totals; it decides nothing about what to store or evict.
 */
import { chunkKey, idKey, lmdbKey } from './local-keys.ts'
import {
  CHUNK_BYTES,
  INLINE_MAX_BYTES,
  type LocalFile,
  PAGE_BYTES,
  latestTotals,
  type Totals,
  UNVISITED,
} from './local-file.ts'
import type { LeftRows } from './local-left-rows.ts'
import type { LookupSnapshot } from './lmdb-snapshot.ts'
import {
  type DecodedRecord,
  decodeRecord,
  decodeRecordHead,
  encodeRecord,
  type RecordHead,
  recordVersion,
} from './local-record.ts'
import type { EvictReason } from './memory-store-options.ts'
import type { StoredEntry } from './store.ts'

/** Counted per entry besides its record: its B-tree node, queue slot and state. */
const ENTRY_OVERHEAD_BYTES = 160
/** Counted per tag of an entry besides the tag's bytes: its row in the tag index. */
const TAG_OVERHEAD_BYTES = 48

const NO_TAGS: readonly string[] = Object.freeze([])
const NO_TAG_SET: ReadonlySet<string> = new Set()

/** What an entry being stored brings, checked and encoded by the store. */
export interface NewEntry {
  readonly key: string
  readonly lkey: Buffer
  readonly entry: StoredEntry
  /** The metadata's JSON. */
  readonly meta: string
  /** The entry's tags, each once. */
  readonly tags: readonly string[]
  readonly invalidatedAt: number | undefined
  /** What it counts against maxBytes: {@link entrySize}. */
  readonly size: number
}

/** Writes and removes entries' rows in one store's file. */
export class LocalEntries {
  readonly #file: LocalFile
  readonly #onEvict: ((key: string, reason: EvictReason) => void) | undefined

  constructor(file: LocalFile, onEvict: ((key: string, reason: EvictReason) => void) | undefined) {
    this.#file = file
    this.#onEvict = onEvict
  }

  /** Writes a new entry under the next id; the caller has removed any entry under its key. */
  add({ key, lkey, entry, meta, tags, invalidatedAt, size }: NewEntry, totals: Totals): void {
    const { entries, chunks, queue, tags: index } = this.#file
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
    entries.putSync(lkey, encodeRecord(fields))
    if (!inline) {
      for (let i = 0, at = 0; at < entry.body.length; i++, at += CHUNK_BYTES) {
        chunks.putSync(chunkKey(id, i), entry.body.subarray(at, at + CHUNK_BYTES))
      }
    }
    queue.putSync(idKey(id), Buffer.concat([Buffer.of(UNVISITED), lkey]))
    for (const tag of tags) {
      const tkey = lmdbKey(tag)
      if (!index.doesExist(tkey)) totals.tags++
      index.putSync(tkey, lkey)
      totals.memberships++
    }
    totals.entries++
    totals.bytes += size
  }

  removeIfThere(lkey: Buffer, totals: Totals, reason: EvictReason): boolean {
    const raw = this.#file.entries.getBinary(lkey)
    if (raw === undefined) return false
    this.remove(lkey, decodeRecordOrStub(raw), totals, reason)
    return true
  }

  /**
   * Takes out an entry and everything that points to it. Tags in `emptied` are left to the
   * caller, which removes each whole (its count of memberships goes down here).
   */
  remove(
    lkey: Buffer,
    record: DecodedRecord,
    totals: Totals,
    reason: EvictReason,
    emptied: ReadonlySet<string> = NO_TAG_SET,
  ): void {
    const index = this.#file.tags
    this.#removeRows(lkey, record)
    for (const tag of record.tags) {
      if (emptied.has(tag)) {
        totals.memberships--
        continue
      }
      const tkey = lmdbKey(tag)
      if (!index.removeSync(tkey, lkey)) continue
      totals.memberships--
      if (!index.doesExist(tkey)) totals.tags--
    }
    this.#uncount(record, totals, reason)
  }

  /**
   * Takes out an entry a hard purge reaches, leaving its rows in tags other than `emptied`
   * (which the purge removes whole; undefined when it removes the whole index) to the sweep.
   */
  removePurged(
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
    this.#removeRows(lkey, record)
    totals.memberships -= record.tags.length
    this.#uncount(record, totals, 'delete')
  }

  /**
   * The body of a chunked record, read in a lookup's snapshot or, without one, lmdb-js's own:
   * whole, or undefined when a chunk is missing or short, never a partial body.
   */
  readChunks(record: DecodedRecord, snapshot?: LookupSnapshot): Buffer | undefined {
    const chunks = this.#file.chunks
    const body = Buffer.allocUnsafe(record.bodyBytes)
    for (let i = 0, at = 0; at < record.bodyBytes; i++) {
      const ckey = chunkKey(record.id, i)
      const chunk = snapshot === undefined ? chunks.getBinaryFast(ckey) : snapshot.read(chunks, ckey)
      const expected = Math.min(CHUNK_BYTES, record.bodyBytes - at)
      if (chunk === undefined || chunk.length !== expected) return undefined
      body.set(new Uint8Array(chunk.buffer, chunk.byteOffset, expected), at)
      at += expected
    }
    return body
  }

  /**
   * Reads every record and its chunks' keys; a problem's description, or undefined when all
   * is whole. For the start-up check (local-check.ts), not the request path.
   */
  verify(): string | undefined {
    this.#file.root.resetReadTxn()
    let entries = 0
    for (const { key, value } of this.#file.entries.getRange({})) {
      let record: DecodedRecord
      try {
        record = decodeRecord(value)
      } catch (err) {
        return `record ${entries} does not decode: ${(err as Error).message}`
      }
      if (!lmdbKey(record.key).equals(key)) return `record ${entries} is stored under another key`
      if (record.chunked && this.readChunks(record) === undefined) return `record ${entries} misses a chunk`
      entries++
    }
    const counted = latestTotals(this.#file).entries
    return entries === counted ? undefined : `${entries} records, ${counted} counted`
  }

  /** Removes the entry's record, its body's chunks and its queue slot. */
  #removeRows(lkey: Buffer, record: Pick<RecordHead, 'id' | 'bodyBytes' | 'chunked'>): void {
    const { entries, chunks, queue } = this.#file
    entries.removeSync(lkey)
    if (record.chunked) {
      for (let i = 0; i * CHUNK_BYTES < record.bodyBytes; i++) chunks.removeSync(chunkKey(record.id, i))
    }
    queue.removeSync(idKey(record.id))
  }

  #uncount(record: Pick<RecordHead, 'key' | 'size'>, totals: Totals, reason: EvictReason): void {
    totals.entries--
    totals.bytes -= record.size
    this.#onEvict?.(record.key, reason)
  }
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
export function decodeRecordOrStub(raw: Uint8Array): DecodedRecord {
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

/** A record's head read inside a write transaction; a damaged record as in {@link decodeRecordOrStub}. */
export function decodeHeadOrStub(raw: Uint8Array): RecordHead {
  try {
    return decodeRecordHead(raw)
  } catch {
    const { key, id, tags, expiresAt, invalidatedAt, bodyBytes, size, chunked } = decodeRecordOrStub(raw)
    return { key, id, tags, tagsJson: new Uint8Array(0), expiresAt, invalidatedAt, bodyBytes, size, chunked }
  }
}
