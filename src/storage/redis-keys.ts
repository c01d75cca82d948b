/**
 * Where the Redis store keeps things: key names built from the key prefix, and the SCAN
 * patterns that find them. Names only; no I/O.
 *
 * Layout (P = keyPrefix, E = the key with `%` and `}` percent-escaped, T = a tag, escaped
 * the same way). Everything one entry needs shares the hash tag `{/E}`, so it sits in one
 * Cluster slot and one Lua script updates it atomically:
 *   P{/E}        hash: the entry (see redis-scripts.ts), Redis TTL = expiresAt − now
 *   P{/E}p       sorted set: purges that reached the key, for sets still in flight
 *   P{/E}w       string: a set with fetchedAt is in flight (10 s TTL), so prefix purges see it
 *   P{/E}l       string: the fill lock, a random token of the instance fetching E (lockTtl)
 *   P{t/T}       sorted set: keys carrying T, scored by expiresAt; a superset of the truth
 *   P{t/T}p      sorted set: purges of T within the purge-log window
 *   P{r/B}       hash: the token bucket B of a rate-limited route (redis-rate-buckets.ts),
 *                gone once full again (its Redis TTL); B over 128 characters is hashed
 *   Ppurges      sorted set: prefix and all purges within the window
 *   Plastpurge   string: time of the latest purge, to refuse sets a forgotten purge reached
 */

import { createHash } from 'node:crypto'

export interface RedisKeys {
  entryKey(key: string): string
  tagKey(tag: string): string
  /** The fill lock of `key`: in the entry's slot, never an entry itself (entryOf ignores it). */
  fillLockKey(key: string): string
  /** A rate limit's token bucket: never an entry (entryOf ignores it). */
  rateBucketKey(bucket: string): string
  readonly globalPurges: string
  readonly lastPurge: string
}

export function createRedisKeys(prefix: string): RedisKeys {
  return {
    entryKey: (key) => `${prefix}{/${escapeKey(key)}}`,
    tagKey: (tag) => `${prefix}{t/${escapeKey(tag)}}`,
    fillLockKey: (key) => `${prefix}{/${escapeKey(key)}}l`,
    rateBucketKey: (bucket) => `${prefix}{r/${escapeKey(boundedBucket(bucket))}}`,
    globalPurges: `${prefix}purges`,
    lastPurge: `${prefix}lastpurge`,
  }
}

/** A SCAN pattern for the entries (and their companions) whose key starts with `keyPrefix`. */
export function entryPattern(prefix: string, keyPrefix: string): string {
  return `${globEscape(`${prefix}{/${escapeKey(keyPrefix)}`)}*`
}

/** A SCAN pattern for everything under `prefix`. */
export function prefixPattern(prefix: string): string {
  return `${globEscape(prefix)}*`
}

/** The entry key behind an entry (`P{/E}`) or in-flight marker (`P{/E}w`) name; else undefined. */
export function entryOf(prefix: string, name: string): string | undefined {
  const start = `${prefix}{/`.length
  if (!name.startsWith(`${prefix}{/`)) return undefined
  const close = name.indexOf('}', start)
  if (close < 0) return undefined
  const suffix = name.slice(close + 1)
  if (suffix !== '' && suffix !== 'w') return undefined
  return unescapeKey(name.slice(start, close))
}

/**
 * A bucket name as stored: a long one (a header's value can be kilobytes) is replaced by its
 * SHA-256, so a bucket's key stays small whatever the client sends.
 */
function boundedBucket(bucket: string): string {
  return bucket.length <= 128 ? bucket : `#${createHash('sha256').update(bucket).digest('base64url')}`
}

/** Percent-escapes `%` and `}`: a key never ends its hash tag early, and prefixes stay prefixes. */
function escapeKey(key: string): string {
  return key.replace(/[%}]/g, (c) => (c === '%' ? '%25' : '%7D'))
}

function unescapeKey(escaped: string): string {
  return escaped.replace(/%25|%7D/g, (c) => (c === '%25' ? '%' : '}'))
}

/** Escapes Redis glob characters so a SCAN MATCH pattern takes the string literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
