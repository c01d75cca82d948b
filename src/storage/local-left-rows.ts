/**
 * Tag-index rows that a hard purge leaves behind, and their later removal. Taking a purged
 * entry out of its other tags' indexes costs about four B-tree operations inside the
 * purge's write transaction, which every worker waits on. The purge instead writes each
 * entry's key and tags here, a few hundred entries a row, and the rows are dropped later in
 * small write transactions of their own (a sweep). Runs inside the store's write
 * transactions; knows nothing of HTTP.
 *
 * Until its sweep, a row of tag T may name a key whose record no longer carries T: the key
 * is gone, or was stored again with other tags. Whoever reads the index checks the record
 * under the key. That check is enough: a record carrying T was written by a set that wrote
 * the row (T, key) itself, so such a row is right whatever wrote it first; and the sweep
 * leaves a row alone whose key's record carries its tag again.
 */
import type { Database } from 'lmdb'
import { lmdbKey } from './local-keys.ts'
import { decodeRecordHead } from './local-record.ts'

/** The sweep's part of the store's totals. */
export interface LeftRowTotals {
  tags: number
  /** Rows written to the left-rows list and not yet swept: at least the rows left behind. */
  leftRows: number
  /** Bytes counted against maxBytes for them: the list itself and the rows it names. */
  leftBytes: number
  /** The next batch's key. */
  leftSeq: number
}

/** Entries in one batch: a sweep transaction handles one batch, about 1 ms of work. */
export const LEFT_BATCH_ENTRIES = 256
/** Counted per left row besides its key: its node in the tag's sub-tree, as a live row counts. */
const LEFT_ROW_OVERHEAD_BYTES = 48
/** A batch starts with its row count (u32) and the bytes it counts (f64). */
const BATCH_HEADER_BYTES = 12

const NO_TAGS: readonly string[] = Object.freeze([])

/*
 * A batch, little-endian: u32 rows, f64 bytes counted, then for each entry: u16 key bytes,
 * the entry's LMDB key, u32 tags bytes, the tags' JSON as its record held it (all of them:
 * the sweep skips rows that are gone, such as the purged tag's own).
 */

/** Collects a purge's left rows and writes them as batches. */
export class LeftRows {
  readonly #db: Database<Buffer, Buffer>
  readonly #totals: LeftRowTotals
  #parts: Buffer[] = []
  #entries = 0
  #rows = 0
  #counted = 0

  constructor(db: Database<Buffer, Buffer>, totals: LeftRowTotals) {
    this.#db = db
    this.#totals = totals
  }

  /** Notes that `rows` of the entry under `lkey`, among those its `tagsJson` names, stay behind. */
  add(lkey: Uint8Array, tagsJson: Uint8Array, rows: number): void {
    const part = Buffer.allocUnsafe(2 + lkey.length + 4 + tagsJson.length)
    part.writeUInt16LE(lkey.length, 0)
    part.set(lkey, 2)
    part.writeUInt32LE(tagsJson.length, 2 + lkey.length)
    part.set(tagsJson, 6 + lkey.length)
    this.#parts.push(part)
    this.#rows += rows
    this.#counted += part.length + rows * (lkey.length + LEFT_ROW_OVERHEAD_BYTES)
    if (++this.#entries === LEFT_BATCH_ENTRIES) this.flush()
  }

  /** Writes what was collected since the last flush. */
  flush(): void {
    if (this.#entries === 0) return
    const head = Buffer.allocUnsafe(BATCH_HEADER_BYTES)
    const counted = this.#counted + BATCH_HEADER_BYTES
    head.writeUInt32LE(this.#rows, 0)
    head.writeDoubleLE(counted, 4)
    this.#db.putSync(batchKey(this.#totals.leftSeq++), Buffer.concat([head, ...this.#parts]))
    this.#totals.leftRows += this.#rows
    this.#totals.leftBytes += counted
    this.#parts = []
    this.#entries = 0
    this.#rows = 0
    this.#counted = 0
  }
}

/**
 * Drops the rows of the oldest batch whose key's record does not carry their tag, and the
 * tags left with no rows. False when no batch is left.
 */
export function sweepLeftRows(
  left: Database<Buffer, Buffer>,
  tags: Database<Buffer, Buffer>,
  entries: Database<Buffer, Buffer>,
  totals: LeftRowTotals,
): boolean {
  const [first] = Array.from(left.getRange({ limit: 1 }))
  if (first === undefined) {
    // Nothing listed, so nothing is left behind: the counts cannot stay above zero.
    totals.leftRows = 0
    totals.leftBytes = 0
    return false
  }
  const batch = Buffer.from(first.value)
  left.removeSync(first.key)
  for (let at = BATCH_HEADER_BYTES; at < batch.length; ) {
    const keyBytes = batch.readUInt16LE(at)
    const lkey = batch.subarray(at + 2, at + 2 + keyBytes)
    const tagsBytes = batch.readUInt32LE(at + 2 + keyBytes)
    const tagsAt = at + 6 + keyBytes
    const listed = JSON.parse(batch.toString('utf8', tagsAt, tagsAt + tagsBytes)) as string[]
    at = tagsAt + tagsBytes
    const carried = carriedTags(entries, lkey)
    for (const tag of listed) {
      if (carried.includes(tag)) continue
      const tkey = lmdbKey(tag)
      if (tags.removeSync(tkey, lkey) && !tags.doesExist(tkey)) totals.tags--
    }
  }
  totals.leftRows = Math.max(0, totals.leftRows - batch.readUInt32LE(0))
  totals.leftBytes = Math.max(0, totals.leftBytes - batch.readDoubleLE(4))
  return true
}

/** The tags the record under `lkey` carries now; none when it is gone or does not decode. */
function carriedTags(entries: Database<Buffer, Buffer>, lkey: Buffer): readonly string[] {
  const raw = entries.getBinaryFast(lkey)
  if (raw === undefined) return NO_TAGS
  try {
    return decodeRecordHead(raw).tags
  } catch {
    return NO_TAGS
  }
}

function batchKey(seq: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeDoubleBE(seq, 0)
  return out
}
