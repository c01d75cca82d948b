/**
 * The Redis store: a CacheStore over one Redis server or a Redis Cluster, shared by every
 * edgecache instance pointed at it. It keeps entries, the tag index and the purge log in
 * Redis, and only approximate counters in process. It knows nothing of HTTP.
 *
 * Key layout: redis-keys.ts. Entry fields and scripts: redis-scripts.ts.
 *
 * The purge race. A purge (1) records itself (per tag, or in Ppurges), (2) lists what it
 * reaches (tag index, or SCAN of entries and in-flight markers), (3) per key, in one
 * script, adds a tombstone record and purges the entry. A set with fetchedAt (1) indexes
 * its tags and writes its marker, (2) reads the purge records, (3) in one script checks
 * the tombstone and writes the entry. If the set's step 2 came before the purge's step 1,
 * then its step 1 came before the purge's step 2, so the purge lists the key and its
 * step 3, whichever side of the set's step 3 it falls, removes or refuses the entry.
 * The remaining window: a SCAN may miss a marker written after the SCAN began, but then
 * the set's step 2 follows the purge's step 1 and sees the record; a set whose steps
 * span more than the marker's 10 s TTL (only possible when commands land at Redis long
 * after their deadline) can slip past a concurrent prefix or all purge.
 *
 * The tag index is never trimmed of a key on replace, delete or purge (removing it safely
 * across slots would need another round of checks); stale members are filtered out when
 * read (the entry must still carry the tag) and dropped once their expiresAt passes.
 *
 * Expiry follows the store's clock: `get` checks expiresAt; the Redis TTL is set relative
 * to that clock (PEXPIRE expiresAt − now, not PEXPIREAT), so clock skew between an
 * instance and Redis does not shorten or stretch lifetimes.
 */
import { type Clock, systemClock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'
import {
  createRedisConnection,
  type RedisArg,
  type RedisConnection,
  type RedisReply,
} from './redis-connection.ts'
import { createRedisFillLock, type RedisFillLock } from './redis-fill-lock.ts'
import { createRedisRateBuckets, type RedisRateBuckets } from './redis-rate-buckets.ts'
import type { RedisTarget } from './redis-topology.ts'
import { createRedisKeys, entryOf, entryPattern, prefixPattern } from './redis-keys.ts'
import {
  DELETE_ENTRY,
  INDEX_TAG,
  NOTE_LAST_PURGE,
  PURGE_ENTRY,
  RECORD_PURGE,
  SET_ENTRY,
} from './redis-scripts.ts'
import type { CacheStore, EntryMeta, PurgeOptions, PurgeSelector, StoreStats } from './store.ts'

/** Where Redis is (`url`, `cluster` or `sentinel`, see RedisTarget), plus the store's own options. */
export interface RedisStoreOptions extends RedisTarget {
  /** Prepended to every key; must not contain `{` or `}`. @default 'ec:' */
  readonly keyPrefix?: string
  /** Deadline of each Redis command, ms. @default 50 */
  readonly commandTimeoutMs?: number
  /** Largest entry stored (body + key + metadata bytes). @default 8 MiB */
  readonly maxObjectBytes?: number
  /** @default systemClock */
  readonly clock?: Clock
  /** How long purges are remembered for the purge race, ms. @default 300_000 */
  readonly purgeLogWindowMs?: number
  /** Told of connection errors (the client reconnects by itself). */
  readonly onError?: (err: unknown) => void
  /**
   * Awaited by `set` after it has read the purge log and before it writes the entry. Only
   * for tests that put a purge inside that gap, the purge race's narrowest window.
   */
  readonly beforeEntryWrite?: (key: string) => Promise<void> | void
}

export interface RedisStore extends CacheStore {
  /** Resolves once connected to Redis; rejects after `timeoutMs` (the store keeps trying). */
  ready(timeoutMs?: number): Promise<void>
  /** One PING: resolves when Redis answers within the command timeout. */
  ping(): Promise<void>
  /** Per-key fill locks on the same connection, for collapsing misses across instances. */
  readonly fillLock: RedisFillLock
  /** Token buckets of rate limits on the same connection, shared by every instance. */
  readonly rateBuckets: RedisRateBuckets
}

const DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024
const MARKER_TTL_MS = 10_000
const PURGE_BATCH = 256

/**
 * Creates a store over Redis. It connects in the background and reconnects by itself;
 * until connected, every call rejects with EC_ERR_STORAGE_UNAVAILABLE, as does any call
 * that fails or outlives `commandTimeoutMs` (the cache stage serves those as misses).
 *
 * @example
 * const store = createRedisStore({ url: 'redis://127.0.0.1:6379' })
 * await store.ready()
 */
export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  const prefix = options.keyPrefix ?? 'ec:'
  const commandTimeoutMs = options.commandTimeoutMs ?? 50
  const maxObjectBytes = options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES
  const clock = options.clock ?? systemClock
  const windowMs = options.purgeLogWindowMs ?? 300_000
  if (/[{}]/.test(prefix)) invalid(`keyPrefix must not contain { or }, got ${JSON.stringify(prefix)}`)
  if (!isPositiveInteger(commandTimeoutMs))
    invalid(`commandTimeoutMs must be a positive integer, got ${commandTimeoutMs}`)
  if (!isPositiveInteger(maxObjectBytes))
    invalid(`maxObjectBytes must be a positive integer, got ${maxObjectBytes}`)
  if (!isPositiveInteger(windowMs)) invalid(`purgeLogWindowMs must be a positive integer, got ${windowMs}`)
  if (options.cluster === undefined && options.url === undefined && options.sentinel === undefined)
    invalid('url, cluster or sentinel is required')
  if (
    options.sentinel !== undefined &&
    (options.sentinel.name === '' || options.sentinel.sentinels.length === 0)
  )
    invalid('sentinel needs a name and at least one sentinel URL')

  const redis: RedisConnection = createRedisConnection({
    url: options.url,
    cluster: options.cluster,
    sentinel: options.sentinel,
    tls: options.tls,
    commandTimeoutMs,
    onError: options.onError,
  })

  const redisKeys = createRedisKeys(prefix)
  const { entryKey, tagKey, globalPurges, lastPurge } = redisKeys

  // Approximate counters: see stats().
  let entries = 0
  let bytes = 0
  let taggedKeys = 0
  const tagCounts = new Map<string, number>()

  function countIn(size: number, tags: readonly string[]): void {
    entries++
    bytes += size
    for (const tag of tags) {
      tagCounts.set(tag, (tagCounts.get(tag) ?? 0) + 1)
      taggedKeys++
    }
  }

  function countOut(size: number, tagsJson: string): void {
    entries = Math.max(0, entries - 1)
    bytes = Math.max(0, bytes - size)
    for (const tag of tagsJson === '' ? [] : unique(JSON.parse(tagsJson) as string[])) {
      const count = tagCounts.get(tag)
      if (count === undefined) continue
      taggedKeys = Math.max(0, taggedKeys - 1)
      if (count <= 1) tagCounts.delete(tag)
      else tagCounts.set(tag, count - 1)
    }
  }

  /** Applies a {removed, …, size, tags} reply's removal to the counters. */
  function countRemoval(reply: RedisReply[], removedAt: number, sizeAt: number, tagsAt: number): void {
    if (Number(reply[removedAt]) === 1) countOut(Number(String(reply[sizeAt])), String(reply[tagsAt] ?? ''))
  }

  async function remove(key: string): Promise<boolean> {
    const reply = (await redis.eval(DELETE_ENTRY, [entryKey(key)], [String(clock.now())])) as RedisReply[]
    countRemoval(reply, 0, 2, 3)
    return Number(reply[1]) === 1
  }

  /**
   * Reads the purge records a set fetched at `fetchedAt` must respect: whether one refuses
   * it and the earliest soft purge time that invalidates it.
   */
  async function checkPurgeLog(
    key: string,
    tags: readonly string[],
    fetchedAt: number,
    now: number,
  ): Promise<{ refuse: boolean; invalidatedAt: number | undefined }> {
    const from = String(fetchedAt)
    const [global, last, ...perTag] = await Promise.all([
      redis.send(globalPurges, ['ZRANGEBYSCORE', globalPurges, from, '+inf']),
      redis.send(lastPurge, ['GET', lastPurge]),
      ...tags.map((tag) => redis.send(`${tagKey(tag)}p`, ['ZRANGEBYSCORE', `${tagKey(tag)}p`, from, '+inf'])),
    ])
    // A purge older than the window is forgotten; refuse whatever one might have reached.
    const latest = last === null ? undefined : Number(String(last))
    if (latest !== undefined && fetchedAt <= Math.min(latest, now - windowMs)) {
      return { refuse: true, invalidatedAt: undefined }
    }
    let refuse = false
    let invalidatedAt: number | undefined
    const records = [
      ...(global as Buffer[])
        .map((raw) => JSON.parse(raw.toString()) as PurgeRecord)
        .filter((record) => record.a === true || (record.p ?? []).some((p) => key.startsWith(p))),
      ...perTag.flatMap((reply) =>
        (reply as Buffer[]).map((raw) => JSON.parse(raw.toString()) as PurgeRecord),
      ),
    ]
    for (const record of records) {
      if (record.k === 'h') refuse = true
      else if (invalidatedAt === undefined || record.at < invalidatedAt) invalidatedAt = record.at
    }
    return { refuse, invalidatedAt }
  }

  async function recordPurge(selector: PurgeSelector, soft: boolean, at: number): Promise<void> {
    const kind = soft ? 's' : 'h'
    const writes: Promise<unknown>[] = [redis.eval(NOTE_LAST_PURGE, [lastPurge], [String(at)])]
    for (const tag of unique(selector.tags ?? [])) {
      writes.push(
        redis.eval(
          RECORD_PURGE,
          [`${tagKey(tag)}p`],
          [String(at), JSON.stringify({ k: kind, at }), String(windowMs)],
        ),
      )
    }
    if (selector.all === true || (selector.prefixes?.length ?? 0) > 0) {
      const record: PurgeRecord =
        selector.all === true ? { k: kind, at, a: true } : { k: kind, at, p: [...(selector.prefixes ?? [])] }
      writes.push(
        redis.eval(RECORD_PURGE, [globalPurges], [String(at), JSON.stringify(record), String(windowMs)]),
      )
    }
    await Promise.all(writes)
  }

  /** Entry keys found by SCAN under `pattern`: entries and in-flight markers. */
  async function scanKeys(pattern: string): Promise<string[]> {
    const found = new Set<string>()
    for (const name of await redis.scan(pattern)) {
      const key = entryOf(prefix, name)
      if (key !== undefined) found.add(key)
    }
    return [...found]
  }

  const store: RedisStore = {
    async ping() {
      await redis.send(prefix, ['PING'])
    },

    ready(timeoutMs = 5_000) {
      return redis.ready(timeoutMs)
    },

    fillLock: createRedisFillLock(redis, redisKeys),
    rateBuckets: createRedisRateBuckets(redis, redisKeys),

    async get(key) {
      const reply = (await redis.send(entryKey(key), [
        'HMGET',
        entryKey(key),
        'b',
        'm',
        'e',
        't',
        'i',
      ])) as (Buffer | null)[]
      const [body, meta, expires, tags, invalidated] = reply
      if (!body || !meta || !expires) return undefined
      const expiresAt = Number(expires.toString())
      if (clock.now() >= expiresAt) return undefined
      const entry: {
        meta: EntryMeta
        body: Buffer
        expiresAt: number
        tags?: string[]
        invalidatedAt?: number
      } = {
        meta: JSON.parse(meta.toString()) as EntryMeta,
        body,
        expiresAt,
      }
      if (tags) entry.tags = JSON.parse(tags.toString()) as string[]
      if (invalidated) entry.invalidatedAt = Number(invalidated.toString())
      return entry
    },

    async set(key, entry) {
      const now = clock.now()
      const metaJson = JSON.stringify(entry.meta)
      const size = entry.body.length + Buffer.byteLength(key) + Buffer.byteLength(metaJson)
      if (size > maxObjectBytes || entry.expiresAt <= now) {
        await remove(key)
        return false
      }
      const tags = unique(entry.tags ?? [])
      const ekey = entryKey(key)
      const ttlMs = String(entry.expiresAt - now)
      // Step 1: index the tags and, for a checked set, say it is in flight.
      await Promise.all([
        ...tags.map((tag) =>
          redis.eval(INDEX_TAG, [tagKey(tag)], [key, String(entry.expiresAt), ttlMs, String(now)]),
        ),
        entry.fetchedAt === undefined
          ? undefined
          : redis.send(`${ekey}w`, ['SET', `${ekey}w`, '1', 'PX', String(MARKER_TTL_MS)]),
      ])
      // Step 2: the purges recorded since the fetch.
      let refuse = false
      let invalidatedAt = entry.invalidatedAt
      if (entry.fetchedAt !== undefined) {
        const log = await checkPurgeLog(key, tags, entry.fetchedAt, now)
        refuse = log.refuse
        if (
          log.invalidatedAt !== undefined &&
          (invalidatedAt === undefined || log.invalidatedAt < invalidatedAt)
        ) {
          invalidatedAt = log.invalidatedAt
        }
      }
      await options.beforeEntryWrite?.(key)
      // Step 3: write, unless refused here or by a purge that reached the key meanwhile.
      const args: RedisArg[] = [
        String(now),
        entry.fetchedAt === undefined ? '' : String(entry.fetchedAt),
        entry.body,
        metaJson,
        String(entry.expiresAt),
        entry.tags === undefined || entry.tags.length === 0 ? '' : JSON.stringify(entry.tags),
        invalidatedAt === undefined ? '' : String(invalidatedAt),
        refuse ? '1' : '0',
        ttlMs,
        String(size),
      ]
      const reply = (await redis.eval(SET_ENTRY, [ekey, `${ekey}p`], args)) as RedisReply[]
      countRemoval(reply, 1, 2, 3)
      const stored = Number(reply[0]) === 1
      if (stored) countIn(size, tags)
      return stored
    },

    delete: remove,

    async clear() {
      const names = await redis.scan(prefixPattern(prefix))
      // Purge records stay: clear is not a purge, and forgetting them could let a set in
      // flight resurrect something purged before the clear.
      const doomed = names.filter(
        (name) =>
          !name.endsWith('}p') &&
          name !== globalPurges &&
          name !== lastPurge &&
          // Rate limit buckets are not cache: a clear must not hand every client a full bucket.
          !name.startsWith(`${prefix}{r/`),
      )
      for (let i = 0; i < doomed.length; i += PURGE_BATCH) {
        await Promise.all(doomed.slice(i, i + PURGE_BATCH).map((name) => redis.send(name, ['UNLINK', name])))
      }
      entries = 0
      bytes = 0
      taggedKeys = 0
      tagCounts.clear()
    },

    async purge(selector, options: PurgeOptions) {
      const tags = unique(selector.tags ?? [])
      const prefixes = selector.prefixes ?? []
      const all = selector.all === true
      if (tags.length === 0 && prefixes.length === 0 && !all) return 0
      const dryRun = options.dryRun === true
      const at = clock.now()
      if (!dryRun) await recordPurge(selector, options.soft, at)

      // byKey: reached by prefix or all, so the entry's tags do not matter.
      const reached = new Map<string, boolean>()
      const tagLists = await Promise.all(
        tags.map((tag) => redis.send(tagKey(tag), ['ZRANGEBYSCORE', tagKey(tag), `(${at}`, '+inf'])),
      )
      for (const list of tagLists) for (const raw of list as Buffer[]) reached.set(raw.toString(), false)
      const patterns = all ? [entryPattern(prefix, '')] : prefixes.map((p) => entryPattern(prefix, p))
      for (const pattern of patterns) for (const key of await scanKeys(pattern)) reached.set(key, true)

      let count = 0
      const keys = [...reached]
      const tagsJson = JSON.stringify(tags)
      for (let i = 0; i < keys.length; i += PURGE_BATCH) {
        const replies = await Promise.all(
          keys.slice(i, i + PURGE_BATCH).map(([key, byKey]) => {
            const ekey = entryKey(key)
            const args = [
              String(at),
              String(at),
              options.soft ? '1' : '0',
              dryRun ? '1' : '0',
              byKey ? '1' : '0',
              tagsJson,
              String(windowMs),
            ]
            return redis.eval(PURGE_ENTRY, [ekey, `${ekey}p`], args)
          }),
        )
        for (const reply of replies as RedisReply[][]) {
          count += Number(reply[0])
          countRemoval(reply, 1, 2, 3)
        }
      }
      return count
    },

    async keysForTag(tag) {
      const now = clock.now()
      const members = (await redis.send(tagKey(tag), [
        'ZRANGEBYSCORE',
        tagKey(tag),
        `(${now}`,
        '+inf',
      ])) as Buffer[]
      const keys = members.map((raw) => raw.toString())
      // The index is a superset: keep the keys whose live entry still carries the tag.
      const checks = await Promise.all(
        keys.map((key) => redis.send(entryKey(key), ['HMGET', entryKey(key), 'e', 't'])),
      )
      return keys.filter((_, i) => {
        const [expires, tags] = checks[i] as (Buffer | null)[]
        if (!expires || !tags || Number(expires.toString()) <= now) return false
        return (JSON.parse(tags.toString()) as string[]).includes(tag)
      })
    },

    /**
     * Approximate, and this instance's view only: counted from the replies to its own
     * writes, deletes and purges (each reply says what it removed, so removing another
     * instance's entry is counted down). Not seen: entries other instances store, and
     * entries Redis drops at their TTL; `clear` resets the counters to zero.
     */
    stats(): StoreStats {
      return { entries, bytes, tags: tagCounts.size, taggedKeys }
    },

    close() {
      return redis.close()
    },
  }
  return store
}

interface PurgeRecord {
  readonly k: 'h' | 's'
  readonly at: number
  readonly a?: boolean
  readonly p?: readonly string[]
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)]
}

function isPositiveInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0
}

function invalid(problem: string): never {
  throw new EdgecacheError('EC_ERR_CONFIG_INVALID', [`redis store: ${problem}`])
}
