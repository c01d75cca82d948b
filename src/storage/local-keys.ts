/**
 * How the local store names things in LMDB: entry keys, tags, eviction-queue ids, body
 * chunks and purge records, each as bytes that sort the way the store scans them. LMDB
 * keys are at most 1,978 bytes and may not be empty, so every key gets a one-byte space
 * prefix, and a key too long to fit is kept as its head followed by a hash of the whole
 * (the record holds the full key, so nothing is lost).
 */
import { createHash } from 'node:crypto'

/** Longest key kept as it is, in UTF-8 bytes; below LMDB's limit with room for the prefix. */
const MAX_PLAIN_BYTES = 1_000
/** Characters of a long key kept before its hash: enough for a prefix purge to narrow the scan. */
const LONG_HEAD_CHARS = 400

const PLAIN = 0x6b // 'k'
const LONG = 0x68 // 'h'

/** The LMDB key of a cache key (or of a tag: the same rules, another database). */
export function lmdbKey(key: string): Buffer {
  const bytes = Buffer.byteLength(key)
  if (bytes <= MAX_PLAIN_BYTES) {
    const out = Buffer.allocUnsafe(bytes + 1)
    out[0] = PLAIN
    out.write(key, 1)
    return out
  }
  const head = Buffer.from(key.slice(0, LONG_HEAD_CHARS))
  const hash = createHash('sha256').update(key).digest()
  return Buffer.concat([Buffer.of(LONG), head, Buffer.of(0), hash])
}

/**
 * The LMDB key ranges that can hold keys starting with `prefix`: plain keys that start with
 * it, and long keys whose kept head could. Entries found in the long range still need their
 * full key checked.
 */
export function prefixRanges(prefix: string): { start: Buffer; end: Buffer }[] {
  // 0xff never occurs in UTF-8, so it sorts after every continuation of the prefix.
  const range = (start: Buffer) => ({ start, end: Buffer.concat([start, Buffer.of(0xff)]) })
  const head = Buffer.from(prefix.slice(0, LONG_HEAD_CHARS))
  const long = range(Buffer.concat([Buffer.of(LONG), head]))
  const utf8 = Buffer.from(prefix)
  // No plain key is longer than MAX_PLAIN_BYTES, so a longer prefix starts none of them.
  if (utf8.length > MAX_PLAIN_BYTES) return [long]
  return [range(Buffer.concat([Buffer.of(PLAIN), utf8])), long]
}

/** An entry id as a key that sorts by id: the eviction queue is in insertion order. */
export function idKey(id: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeDoubleBE(id, 0)
  return out
}

export function idOfKey(key: Uint8Array): number {
  return Buffer.from(key.buffer, key.byteOffset, 8).readDoubleBE(0)
}

/** Chunk `index` of the body of entry `id`. */
export function chunkKey(id: number, index: number): Buffer {
  const out = Buffer.allocUnsafe(12)
  out.writeDoubleBE(id, 0)
  out.writeUInt32BE(index, 8)
  return out
}

/** A purge record's key: its time, then a sequence number for purges in one millisecond. */
export function purgeKey(at: number, seq: number): Buffer {
  const out = Buffer.allocUnsafe(12)
  // Times are positive epoch ms: their big-endian doubles sort as the numbers do.
  out.writeDoubleBE(Math.max(0, at), 0)
  out.writeUInt32BE(seq >>> 0, 8)
  return out
}
