/**
 * The local store's purges: finding the entries a purge by tags, prefixes or all reaches,
 * then taking them out (hard) or marking them invalidated (soft), and logging the purge.
 * Runs inside one write transaction of the store's; what a hard purge leaves in the tag
 * index is swept later (local-left-rows.ts), by the store.
 */
import { decodeHeadOrStub, decodeRecordOrStub, type LocalEntries } from './local-entries.ts'
import { CHUNK_BYTES, type LocalFile, type Totals } from './local-file.ts'
import { lmdbKey, prefixRanges } from './local-keys.ts'
import { LeftRows } from './local-left-rows.ts'
import { recordPurge } from './local-purge-log.ts'
import { type RecordHead, recordExpiresAt, recordVersion, withInvalidatedAt } from './local-record.ts'
import type { PurgeOptions, PurgeSelector } from './store.ts'

/** A soft purge rewrites each record; those up to this size go through one buffer. */
const SOFT_SCRATCH_BYTES = CHUNK_BYTES + 4_096

const NO_TAGS: readonly string[] = Object.freeze([])
const NO_TAG_SET: ReadonlySet<string> = new Set()

/** The purge log's bounds: purges of the last `windowMs`, at most `maxRecords`. */
export interface PurgeLogBounds {
  readonly windowMs: number
  readonly maxRecords: number
}

/** Carries out purges in one store's file. */
export class LocalPurge {
  readonly #file: LocalFile
  readonly #entries: LocalEntries
  readonly #log: PurgeLogBounds

  constructor(file: LocalFile, entries: LocalEntries, log: PurgeLogBounds) {
    this.#file = file
    this.#entries = entries
    this.#log = log
  }

  /** Inside a write transaction: purges what `selector` reaches at `now`; how many live entries it reached. */
  run(totals: Totals, now: number, selector: PurgeSelector, { soft, dryRun = false }: PurgeOptions): number {
    const { entries, tags, left: leftDb, purges } = this.#file
    const reaches = reachOf(selector)
    if (!dryRun) recordPurge(purges, totals, now, selector, soft, this.#log.windowMs, this.#log.maxRecords)
    const hard = !soft && !dryRun
    // A hard purge of everything empties the whole index; one by tag empties those tags:
    // their rows go at once, not one per entry. The entries' other rows are left behind.
    const everything = hard && selector.all === true
    const emptied = hard ? new Set(selector.tags) : NO_TAG_SET
    const left = new LeftRows(leftDb, totals)
    const scratch = soft && !dryRun ? Buffer.allocUnsafe(SOFT_SCRATCH_BYTES) : undefined
    // Every left row is listed, and counted until its batch is swept: with none counted,
    // each row of the index is current, so a key found by a tag carries it.
    const current = totals.leftRows === 0
    let purged = 0
    for (const lkey of this.#select(selector)) {
      // Not copied: read at once, and a soft purge copies it before it writes.
      const raw = entries.getBinaryFast(lkey)
      if (current && !hard) {
        // A soft purge or a dry run then needs only the record's header, not its tags.
        if (raw === undefined) continue
        const live = recordExpiresAt(raw) > now
        if (live) purged++
        if (!dryRun && live && !(recordVersion(raw).invalidatedAt <= now)) {
          // lmdb-js copies the value into the map before putSync returns: one scratch does.
          entries.putSync(lkey, withInvalidatedAt(raw, now, scratch))
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
        this.#entries.removePurged(lkey, record, totals, everything ? undefined : emptied, left)
      } else if (live && !((record.invalidatedAt ?? Number.NaN) <= now)) {
        entries.putSync(lkey, withInvalidatedAt(raw, now, scratch))
      }
    }
    left.flush()
    if (everything) {
      for (const db of [tags, leftDb]) db.clearSync()
      Object.assign(totals, { tags: 0, leftRows: 0, leftBytes: 0 })
    }
    for (const tag of emptied) {
      const tkey = lmdbKey(tag)
      if (tags.doesExist(tkey) && tags.removeSync(tkey)) totals.tags--
    }
    return purged
  }

  /** The LMDB keys a purge reaches, each once. */
  #select({ tags = NO_TAGS, prefixes = NO_TAGS, all = false }: PurgeSelector): Buffer[] {
    const { entries, tags: index } = this.#file
    // One tag lists each key once: nothing to deduplicate (the usual purge).
    if (!all && tags.length === 1 && prefixes.length === 0) {
      return Array.from(index.getValues(lmdbKey(tags[0] as string)))
    }
    const found = new Map<string, Buffer>()
    const add = (lkey: Buffer) => found.set(lkey.toString('latin1'), lkey)
    if (all) {
      for (const lkey of entries.getKeys({})) add(lkey)
      return [...found.values()]
    }
    for (const tag of tags) for (const lkey of index.getValues(lmdbKey(tag))) add(lkey)
    for (const prefix of prefixes) {
      for (const range of prefixRanges(prefix)) {
        for (const { key: lkey, value } of entries.getRange(range)) {
          // A long key's head matched; its full key must too.
          if (lkey[0] === 0x68 && !decodeRecordOrStub(value).key.startsWith(prefix)) continue
          add(lkey)
        }
      }
    }
    return [...found.values()]
  }

  /** Removes the rows of `tags` under `lkey` that its record (if any) does not carry. */
  #dropRows(tags: readonly string[], lkey: Buffer, record: RecordHead | undefined, totals: Totals): void {
    const index = this.#file.tags
    for (const tag of tags) {
      if (record?.tags.includes(tag)) continue
      const tkey = lmdbKey(tag)
      if (index.removeSync(tkey, lkey) && !index.doesExist(tkey)) totals.tags--
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
