/**
 * The local store's purge log, kept in its file so that every worker's `set` is checked
 * against every worker's purges: a response fetched before a purge and stored after it
 * must not survive the purge. The same rules as the memory store's purge-log.ts (read its
 * notes): purges of the last `windowMs`, at most `maxRecords`; an entry fetched at or before
 * a forgotten purge is refused. These functions run inside the store's write transaction.
 */
import type { Database } from 'lmdb'
import { purgeKey } from './local-keys.ts'
import type { PurgeVerdict } from './purge-log.ts'
import type { PurgeSelector } from './store.ts'

/** One logged purge as the file keeps it; its time and sequence number are its key. */
export interface PurgeRecordBody {
  readonly at: number
  readonly soft: boolean
  readonly all: boolean
  readonly tags: readonly string[]
  readonly prefixes: readonly string[]
}

/** The purge log's part of the store's totals. */
export interface PurgeTotals {
  purgeSeq: number
  purgeCount: number
  /** Time of the latest purge logged; times never go back. */
  lastPurgeAt: number
  /** Time of the latest purge forgotten; null while none has been. */
  forgottenUntil: number | null
}

type PurgeDb = Database<PurgeRecordBody, Buffer>

/** Logs a purge carried out at `now`, then forgets what the window and bound let go. */
export function recordPurge(
  db: PurgeDb,
  totals: PurgeTotals,
  now: number,
  selector: PurgeSelector,
  soft: boolean,
  windowMs: number,
  maxRecords: number,
): void {
  const all = selector.all === true
  const tags = selector.tags ?? []
  const prefixes = selector.prefixes ?? []
  if (!all && tags.length === 0 && prefixes.length === 0) return
  const at = Math.max(now, totals.lastPurgeAt)
  totals.lastPurgeAt = at
  db.putSync(purgeKey(at, totals.purgeSeq++), { at, soft, all, tags: [...tags], prefixes: [...prefixes] })
  totals.purgeCount++
  const oldest = now - windowMs
  const forgotten: Buffer[] = []
  for (const { key, value } of db.getRange({ start: purgeKey(0, 0) })) {
    if (value.at >= oldest && totals.purgeCount - forgotten.length <= maxRecords) break
    forgotten.push(key)
    totals.forgottenUntil = value.at
  }
  // Removed after the walk: a cursor must not run over rows its own transaction deletes.
  for (const key of forgotten) db.removeSync(key)
  totals.purgeCount -= forgotten.length
}

/**
 * The verdict on storing an entry under `key` with `tags`, fetched at `fetchedAt`: every
 * logged purge at or after `fetchedAt` that reaches it counts. A `fetchedAt` that is not a
 * number is taken as "long ago".
 */
export function purgeVerdict(
  db: PurgeDb,
  totals: PurgeTotals,
  key: string,
  tags: readonly string[],
  fetchedAt: number,
): PurgeVerdict {
  const from = Number.isNaN(fetchedAt) ? Number.NEGATIVE_INFINITY : fetchedAt
  if (totals.forgottenUntil !== null && from <= totals.forgottenUntil) {
    return { kind: 'refuse', reason: 'forgotten' }
  }
  // No purge logged at or after the fetch (the common case): no cursor, which costs a fill ~15 µs.
  if (from > totals.lastPurgeAt) return { kind: 'store' }
  let invalidateAt: number | undefined
  for (const { value } of db.getRange({ start: purgeKey(from, 0) })) {
    if (!reaches(value, key, tags)) continue
    if (!value.soft) return { kind: 'refuse', reason: 'purged' }
    invalidateAt ??= value.at
  }
  return invalidateAt === undefined ? { kind: 'store' } : { kind: 'invalidate', at: invalidateAt }
}

function reaches(record: PurgeRecordBody, key: string, tags: readonly string[]): boolean {
  if (record.all) return true
  for (const tag of tags) if (record.tags.includes(tag)) return true
  for (const prefix of record.prefixes) if (key.startsWith(prefix)) return true
  return false
}
