/**
 * The local store's eviction: SIEVE over the queue of entry ids, and the visited marks that
 * hits leave for it. Runs inside the store's write transactions, except for the flush of
 * marks when the process writes nothing else; it removes entries only through LocalEntries.
 *
 * SIEVE over a queue of entry ids in insertion order, each row holding the entry's visited
 * mark and key. A hit marks the entry visited; the hand walks from the oldest, clearing marks
 * and evicting the first unmarked (or expired) entry. A hit must not pay for a write
 * transaction, so its mark waits in memory until this process next writes (a fill, a purge)
 * or for at most VISIT_FLUSH_MS (local-store.ts). Each mark cleared is one a hit set, so
 * eviction costs O(1) amortised per fill.
 */
import { decodeRecordOrStub, type LocalEntries } from './local-entries.ts'
import { type LocalFile, type Totals, UNVISITED, VISITED } from './local-file.ts'
import { idKey, idOfKey } from './local-keys.ts'
import { sweepLeftRows } from './local-left-rows.ts'
import { recordExpiresAt } from './local-record.ts'

/** Hits remembered between write transactions for SIEVE's visited marks; more are dropped. */
const MAX_PENDING_VISITS = 16_384
/** Queue slots the eviction hand reads at a time. */
const EVICTION_BATCH = 64

/** Keeps one store's entries within `maxBytes`, for this process. */
export class LocalEviction {
  readonly #file: LocalFile
  readonly #entries: LocalEntries
  readonly #maxBytes: number
  #pendingVisits = new Set<number>()

  constructor(file: LocalFile, entries: LocalEntries, maxBytes: number) {
    this.#file = file
    this.#entries = entries
    this.#maxBytes = maxBytes
  }

  /** Notes a hit on the entry `id`, to be marked at the next write. */
  visit(id: number): void {
    if (this.#pendingVisits.size < MAX_PENDING_VISITS) this.#pendingVisits.add(id)
  }

  /** Inside a write transaction: marks the entries hit since the last one as visited. */
  writeVisits(): void {
    if (this.#pendingVisits.size === 0) return
    const queue = this.#file.queue
    const visits = this.#pendingVisits
    this.#pendingVisits = new Set()
    for (const id of visits) {
      const key = idKey(id)
      const row = queue.getBinary(key)
      if (row === undefined || row[0] === VISITED) continue
      row[0] = VISITED
      queue.putSync(key, row)
    }
  }

  /** Writes pending visited marks in a write transaction of their own, if there are any. */
  flushVisits(): void {
    if (this.#pendingVisits.size === 0) return
    try {
      this.#file.root.transactionSync(() => this.writeVisits())
    } catch (err) {
      // Marks only steer eviction; losing some costs hit ratio, not correctness.
      process.emitWarning(err instanceof Error ? err : String(err), { code: 'EDGECACHE_LOCAL_STORE_VISITS' })
    }
  }

  /**
   * SIEVE: evicts until `size` more bytes fit within `limit`. The hand walks the queue from where it
   * stopped, oldest first, wrapping at the end; a visited entry loses its mark and stays.
   */
  makeRoom(size: number, totals: Totals, now: number, limit = this.#maxBytes): void {
    const { entries, queue, tags, left } = this.#file
    let wrapped = 0
    // Rows a purge left behind count too, and go before any live entry does.
    while (totals.bytes + totals.leftBytes + size > limit && totals.leftBytes > 0) {
      if (!sweepLeftRows(left, tags, entries, totals)) break
    }
    while (totals.bytes + totals.leftBytes + size > limit && totals.entries > 0) {
      const batch = Array.from(queue.getRange({ start: idKey(totals.hand), limit: EVICTION_BATCH }))
      if (batch.length === 0) {
        // Past the newest: start again from the oldest. Two laps clear every mark.
        if (++wrapped > 2) break
        totals.hand = 0
        continue
      }
      const last = batch.length < EVICTION_BATCH ? batch.at(-1) : undefined
      for (const item of batch) {
        const { key: id, value: row } = item
        if (totals.bytes + totals.leftBytes + size <= limit) break
        const lkey = row.subarray(1)
        // Past the newest entry the hand goes back to the oldest, as SIEVE's does; left
        // at the next id, it would look first at the entry this fill is about to add.
        totals.hand = item === last ? 0 : idOfKey(id) + 1
        const raw = entries.getBinary(lkey)
        if (raw === undefined) {
          // A queue slot whose entry is gone (it should not happen): drop it.
          queue.removeSync(id)
          continue
        }
        const expired = !(recordExpiresAt(raw) > now)
        if (!expired && row[0] === VISITED) {
          queue.putSync(id, Buffer.concat([Buffer.of(UNVISITED), lkey]))
          continue
        }
        this.#entries.remove(lkey, decodeRecordOrStub(raw), totals, expired ? 'expire' : 'evict')
      }
    }
  }
}
