/**
 * A bounded record of recent purges, so a store can settle the purge race: a response
 * fetched before a purge and stored after it must not survive the purge. The store logs
 * every purge it carries out and asks for a verdict before it stores an entry that says
 * when it was fetched. In-process and store-neutral: it sees keys, tags and epoch ms.
 */
import type { PurgeSelector } from './store.ts'

/*
 * What the log knows. It keeps the purges of the last `windowMs`, at most `maxRecords` of
 * them; older ones are forgotten, and `#forgottenUntil` remembers the time of the latest
 * purge forgotten. Every purge later than that is still in the log, so for an entry
 * fetched after it the verdict is exact. An entry fetched at or before it might have been
 * reached by a purge whose selector is gone, so it is refused: a needless miss now and
 * then is cheap, serving purged content is what the log exists to prevent. When nothing
 * has been forgotten (or only purges before the fetch), however old the fetch, nothing is
 * refused for that reason.
 *
 * Purge times are kept non-decreasing: a purge logged while the clock stands behind an
 * earlier one is logged at the earlier one's time. That only moves a purge later, which
 * can refuse more entries, never fewer.
 */

export interface PurgeLogOptions {
  /** How long a purge is remembered after it happened. */
  readonly windowMs: number
  /** Most purges remembered at once; the oldest are forgotten first. */
  readonly maxRecords: number
}

/**
 * What the logged purges make of an entry about to be stored: store it as it is, store it
 * invalidated at `at` (a soft purge, the earliest that matched), or refuse it (a hard
 * purge matched, or a purge the log has forgotten may have).
 */
export type PurgeVerdict =
  | { readonly kind: 'store' }
  | { readonly kind: 'invalidate'; readonly at: number }
  | { readonly kind: 'refuse'; readonly reason: 'purged' | 'forgotten' }

interface PurgeRecord {
  readonly at: number
  readonly soft: boolean
  readonly all: boolean
  readonly tags: ReadonlySet<string> | undefined
  readonly prefixes: readonly string[]
}

const STORE: PurgeVerdict = { kind: 'store' }
const REFUSE_PURGED: PurgeVerdict = { kind: 'refuse', reason: 'purged' }
const REFUSE_FORGOTTEN: PurgeVerdict = { kind: 'refuse', reason: 'forgotten' }

/** Records are dropped from the front by moving `#head`; the array is compacted past this. */
const COMPACT_AFTER = 1_024

export class PurgeLog {
  readonly #windowMs: number
  readonly #maxRecords: number
  #records: PurgeRecord[] = []
  #head = 0
  /** Time of the latest purge forgotten; undefined while none has been. */
  #forgottenUntil: number | undefined
  #lastAt = Number.NEGATIVE_INFINITY

  constructor({ windowMs, maxRecords }: PurgeLogOptions) {
    this.#windowMs = windowMs
    this.#maxRecords = maxRecords
  }

  /** Logs a purge carried out at `now`. A selector that can reach nothing is not logged. */
  record(now: number, selector: PurgeSelector, soft: boolean): void {
    const all = selector.all === true
    const tags = selector.tags !== undefined && selector.tags.length > 0 ? new Set(selector.tags) : undefined
    const prefixes = selector.prefixes ?? []
    if (!all && tags === undefined && prefixes.length === 0) return
    const at = Math.max(now, this.#lastAt)
    this.#lastAt = at
    this.#records.push({ at, soft, all, tags, prefixes: [...prefixes] })
    this.#trim(now)
  }

  /**
   * The verdict on storing an entry under `key` with `tags`, fetched at `fetchedAt`: every
   * logged purge at or after `fetchedAt` that reaches it counts. A `fetchedAt` that is not
   * a number is taken as "long ago".
   */
  verdict(key: string, tags: readonly string[], fetchedAt: number, now: number): PurgeVerdict {
    this.#trim(now)
    const from = Number.isNaN(fetchedAt) ? Number.NEGATIVE_INFINITY : fetchedAt
    if (this.#forgottenUntil !== undefined && from <= this.#forgottenUntil) return REFUSE_FORGOTTEN
    let invalidateAt: number | undefined
    // Newest first: stop at the first purge older than the fetch.
    for (let i = this.#records.length - 1; i >= this.#head; i--) {
      const record = this.#records[i]!
      if (record.at < from) break
      if (!reaches(record, key, tags)) continue
      if (!record.soft) return REFUSE_PURGED
      invalidateAt = record.at
    }
    return invalidateAt === undefined ? STORE : { kind: 'invalidate', at: invalidateAt }
  }

  /** Purges remembered. */
  get size(): number {
    return this.#records.length - this.#head
  }

  #trim(now: number): void {
    const oldest = now - this.#windowMs
    const records = this.#records
    while (this.#head < records.length) {
      const record = records[this.#head]!
      if (record.at >= oldest && records.length - this.#head <= this.#maxRecords) break
      this.#forgottenUntil = record.at
      this.#head++
    }
    if (this.#head > COMPACT_AFTER && this.#head * 2 > records.length) {
      this.#records = records.slice(this.#head)
      this.#head = 0
    }
  }
}

function reaches(record: PurgeRecord, key: string, tags: readonly string[]): boolean {
  if (record.all) return true
  if (record.tags !== undefined) {
    for (const tag of tags) if (record.tags.has(tag)) return true
  }
  for (const prefix of record.prefixes) if (key.startsWith(prefix)) return true
  return false
}
