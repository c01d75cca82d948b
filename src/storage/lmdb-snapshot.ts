/**
 * A read snapshot of an LMDB file taken afresh for each lookup, so that a lookup sees every
 * commit another process made before it began.
 *
 * lmdb-js renews its shared read transaction lazily and resets it on a `setTimeout(0)`
 * after each renewal; forcing a renewal per lookup through it (`resetReadTxn`) costs a timer
 * per lookup, about 0.6 µs of a hit's 1.3 µs in the store. A read transaction of its own
 * costs a native reset instead: LMDB renews a reset read transaction at the next read
 * through it. It is reset again as soon as the lookup is done, so it never holds old pages
 * (LMDB cannot reuse pages an open reader may still see) while the process waits.
 *
 * The transaction comes from lmdb-js (`useReadTransaction`) and is then taken out of its
 * hands: lmdb-js would otherwise go on using it for its own reads, commit it when a database
 * is opened, and take it up again while its snapshot is the newest.
 */
import * as lmdb from 'lmdb'

/** lmdb-js's read transaction object, as far as this module uses it (not all of it is typed). */
interface ReadTransaction {
  /** The native handle. */
  readonly address: number
  /** lmdb-js never takes up a transaction marked done. */
  isDone: boolean
  abort(): void
}

interface ReadsWithOptions {
  getBinaryFast(key: Buffer, options: { readonly transaction: ReadTransaction }): Buffer | undefined
}

/** lmdb-js's native binding, exported by its Node entry point though not typed. */
const nativeReset = (lmdb as unknown as { nativeAddon?: { resetTxn?: (address: number) => void } })
  .nativeAddon?.resetTxn

/**
 * Resets a read transaction: LMDB renews it at the next read through it. Missing only from
 * an lmdb-js build that no longer exports it, which every local-store test would show.
 */
function resetTxn(address: number): void {
  if (nativeReset === undefined) throw new Error('lmdb-js does not export nativeAddon.resetTxn')
  nativeReset(address)
}

export class LookupSnapshot {
  readonly #txn: ReadTransaction
  /** The options of every read of a lookup: all of them see the same snapshot. */
  readonly #reads: { readonly transaction: ReadTransaction }

  constructor(root: lmdb.RootDatabase) {
    const txn = root.useReadTransaction() as unknown as ReadTransaction
    // In use, so lmdb-js's reset lets go of it rather than reset it; done, so it never takes it up again.
    root.resetReadTxn()
    txn.isDone = true
    resetTxn(txn.address)
    this.#txn = txn
    this.#reads = { transaction: txn }
  }

  /**
   * Call before a lookup's first read: its reads see every commit made before now. Reset
   * again in case a read without a transaction renewed it since (lmdb-js's native side
   * falls back to the newest read transaction); a reset one is left as it is.
   */
  begin(): void {
    resetTxn(this.#txn.address)
  }

  /**
   * Call once the lookup has copied what it needs out of the file: the snapshot is let go
   * so that it pins no pages while the process waits for the next lookup.
   */
  end(): void {
    resetTxn(this.#txn.address)
  }

  /**
   * `db`'s value under `key` in this snapshot, in lmdb-js's reusable read buffer: valid
   * until the next read. (lmdb-js takes the read options, though its types do not say so.)
   */
  read(db: lmdb.Database<Buffer, Buffer>, key: Buffer): Buffer | undefined {
    return (db as unknown as ReadsWithOptions).getBinaryFast(key, this.#reads)
  }

  /** Before the file is closed. */
  close(): void {
    this.#txn.abort()
  }
}
