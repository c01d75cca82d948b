/**
 * The bytes of one entry in the local store: a fixed header, the full key, the metadata and
 * tags as JSON, and the body when it is small enough to live in the record (a large body
 * lives in chunks beside it). Encoding and decoding only: no LMDB, no HTTP.
 */

/** Bumped whenever the layout below changes: a store written with another is set aside at start. */
export const RECORD_FORMAT = 1

/*
 * Layout, little-endian:
 *   0  u8   format (RECORD_FORMAT)
 *   1  u8   flags: bit 0 set when the body lives in chunks
 *   2  u16  reserved
 *   4  u32  key bytes
 *   8  u32  meta bytes
 *  12  u32  tags bytes
 *  16  f64  id: unique per stored entry, never reused; its place in the eviction queue
 *  24  f64  expiresAt
 *  32  f64  fetchedAt, NaN when absent
 *  40  f64  invalidatedAt, NaN when absent
 *  48  f64  body bytes
 *  56  f64  bytes counted against maxBytes
 *  64  key, meta JSON, tags JSON (empty when none), then the body unless chunked
 * `id` and `invalidatedAt` together say which version of an entry a record is: a worker's
 * decoded copy is good while both are unchanged (see {@link recordVersion}).
 */
const HEADER_BYTES = 64
const CHUNKED = 1
/** Where the fields a lookup reads before decoding sit in the header. */
export const ID_OFFSET = 16
export const EXPIRES_AT_OFFSET = 24
export const INVALIDATED_AT_OFFSET = 40

/** What a record says of its entry, besides where the body is. */
interface RecordHeader {
  readonly key: string
  readonly id: number
  readonly meta: string
  readonly tags: readonly string[]
  readonly expiresAt: number
  readonly fetchedAt: number | undefined
  readonly invalidatedAt: number | undefined
  readonly bodyBytes: number
  readonly size: number
}

export interface RecordFields extends RecordHeader {
  /** The body, or undefined when it is written as chunks. */
  readonly body: Buffer | undefined
}

export interface DecodedRecord extends RecordHeader {
  readonly chunked: boolean
  /** Where the inline body starts in the record; meaningless when chunked. */
  readonly bodyOffset: number
}

export function encodeRecord(fields: RecordFields): Buffer {
  const key = Buffer.from(fields.key)
  const meta = Buffer.from(fields.meta)
  const tags = fields.tags.length === 0 ? EMPTY : Buffer.from(JSON.stringify(fields.tags))
  const inline = fields.body?.length ?? 0
  const out = Buffer.allocUnsafe(HEADER_BYTES + key.length + meta.length + tags.length + inline)
  out.writeUInt8(RECORD_FORMAT, 0)
  out.writeUInt8(fields.body === undefined ? CHUNKED : 0, 1)
  out.writeUInt16LE(0, 2)
  out.writeUInt32LE(key.length, 4)
  out.writeUInt32LE(meta.length, 8)
  out.writeUInt32LE(tags.length, 12)
  out.writeDoubleLE(fields.id, 16)
  out.writeDoubleLE(fields.expiresAt, 24)
  out.writeDoubleLE(fields.fetchedAt ?? Number.NaN, 32)
  out.writeDoubleLE(fields.invalidatedAt ?? Number.NaN, 40)
  out.writeDoubleLE(fields.bodyBytes, 48)
  out.writeDoubleLE(fields.size, 56)
  let at = HEADER_BYTES
  at += key.copy(out, at)
  at += meta.copy(out, at)
  at += tags.copy(out, at)
  if (fields.body !== undefined) fields.body.copy(out, at)
  return out
}

/**
 * The header fields and the strings of a record. Throws on bytes that are not a record of
 * this format, which the store treats as a damaged entry.
 */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  const view = asBuffer(bytes)
  if (view.length < HEADER_BYTES || view.readUInt8(0) !== RECORD_FORMAT) {
    throw new Error('not a record of this format')
  }
  const keyBytes = view.readUInt32LE(4)
  const metaBytes = view.readUInt32LE(8)
  const tagsBytes = view.readUInt32LE(12)
  const chunked = (view.readUInt8(1) & CHUNKED) !== 0
  const bodyBytes = view.readDoubleLE(48)
  const bodyOffset = HEADER_BYTES + keyBytes + metaBytes + tagsBytes
  if (view.length !== bodyOffset + (chunked ? 0 : bodyBytes)) throw new Error('record length does not add up')
  const metaAt = HEADER_BYTES + keyBytes
  const tagsAt = metaAt + metaBytes
  const key = view.toString('utf8', HEADER_BYTES, metaAt)
  const meta = view.toString('utf8', metaAt, tagsAt)
  const tags = tagsBytes === 0 ? NO_TAGS : (JSON.parse(view.toString('utf8', tagsAt, bodyOffset)) as string[])
  return {
    key,
    id: view.readDoubleLE(16),
    meta,
    tags,
    expiresAt: view.readDoubleLE(24),
    fetchedAt: orUndefined(view.readDoubleLE(32)),
    invalidatedAt: orUndefined(view.readDoubleLE(40)),
    bodyBytes,
    size: view.readDoubleLE(56),
    chunked,
    bodyOffset,
  }
}

/** What a purge needs of a record: its header, key and tags, without the metadata. */
export interface RecordHead {
  readonly key: string
  readonly id: number
  readonly tags: readonly string[]
  /** The tags' JSON as the record holds it: a view of `bytes`, valid as long as they are. */
  readonly tagsJson: Uint8Array
  readonly expiresAt: number
  readonly invalidatedAt: number | undefined
  readonly bodyBytes: number
  readonly size: number
  readonly chunked: boolean
}

/**
 * The head of a record, for a purge that reads thousands of them in its write transaction:
 * the metadata is neither checked nor turned into a string. Throws as {@link decodeRecord} does.
 */
export function decodeRecordHead(bytes: Uint8Array): RecordHead {
  const view = asBuffer(bytes)
  if (view.length < HEADER_BYTES || view.readUInt8(0) !== RECORD_FORMAT) {
    throw new Error('not a record of this format')
  }
  const keyBytes = view.readUInt32LE(4)
  const tagsAt = HEADER_BYTES + keyBytes + view.readUInt32LE(8)
  const tagsEnd = tagsAt + view.readUInt32LE(12)
  if (tagsEnd > view.length) throw new Error('record length does not add up')
  return {
    key: view.toString('utf8', HEADER_BYTES, HEADER_BYTES + keyBytes),
    id: view.readDoubleLE(16),
    tags: tagsEnd === tagsAt ? NO_TAGS : (JSON.parse(view.toString('utf8', tagsAt, tagsEnd)) as string[]),
    tagsJson: view.subarray(tagsAt, tagsEnd),
    expiresAt: view.readDoubleLE(24),
    invalidatedAt: orUndefined(view.readDoubleLE(40)),
    bodyBytes: view.readDoubleLE(48),
    size: view.readDoubleLE(56),
    chunked: (view.readUInt8(1) & CHUNKED) !== 0,
  }
}

/** When the entry expires, read without decoding the rest. */
export function recordExpiresAt(bytes: Uint8Array): number {
  return asBuffer(bytes).readDoubleLE(24)
}

/**
 * What tells two versions of an entry apart: its id (a new one for every set) and its
 * invalidatedAt (a soft purge rewrites the record in place). Read without decoding.
 */
export function recordVersion(bytes: Uint8Array): { readonly id: number; readonly invalidatedAt: number } {
  const view = asBuffer(bytes)
  return { id: view.readDoubleLE(16), invalidatedAt: view.readDoubleLE(40) }
}

/**
 * The record with invalidatedAt set, everything else the same (a soft purge), written into
 * `scratch` when it is large enough: a purge of thousands of entries then allocates none.
 * The result is valid until `scratch` is written again.
 */
export function withInvalidatedAt(bytes: Uint8Array, at: number, scratch?: Buffer): Buffer {
  const record = asBuffer(bytes)
  const copy =
    scratch !== undefined && scratch.length >= record.length
      ? scratch.subarray(0, record.length)
      : Buffer.allocUnsafe(record.length)
  record.copy(copy)
  copy.writeDoubleLE(at, 40)
  return copy
}

const EMPTY = Buffer.alloc(0)
const NO_TAGS: readonly string[] = Object.freeze([])

/**
 * A Buffer over exactly `bytes`. LMDB's reusable read buffer reports the value's length but
 * spans a larger area, so it is viewed through its own offset and length.
 */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}

function orUndefined(n: number): number | undefined {
  return Number.isNaN(n) ? undefined : n
}
