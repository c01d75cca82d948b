/**
 * The local store's file: the LMDB databases it holds, the layout it says it has, the totals
 * kept in it and the size it has grown to. Opening and checking only; what goes into the
 * databases is the other local-*.ts modules' job. Knows nothing of HTTP.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { type Database, open, type RootDatabase } from 'lmdb'
import type { LeftRowTotals } from './local-left-rows.ts'
import type { PurgeRecordBody, PurgeTotals } from './local-purge-log.ts'
import { RECORD_FORMAT } from './local-record.ts'

/** The databases of one store's file, all in the one environment `root`. */
export interface LocalFile {
  readonly root: RootDatabase
  /** LMDB key (local-keys.ts) → the entry's record (local-record.ts). */
  readonly entries: Database<Buffer, Buffer>
  /** Entry id and index → a chunk of a body too large for its record. */
  readonly chunks: Database<Buffer, Buffer>
  /** Tag → the LMDB keys of its entries, one row each; some may be left rows (local-left-rows.ts). */
  readonly tags: Database<Buffer, Buffer>
  /** The eviction queue: entry id → its row (see QUEUE_FORMAT). */
  readonly queue: Database<Buffer, Buffer>
  /** Batches of rows purges left behind in `tags` (local-left-rows.ts). */
  readonly left: Database<Buffer, Buffer>
  /** The purge log (local-purge-log.ts). */
  readonly purges: Database<PurgeRecordBody, Buffer>
  /** The layout and the totals. */
  readonly state: Database<unknown, string>
}

/** What the store counts, kept in the file and changed only inside write transactions. */
export interface Totals extends PurgeTotals, LeftRowTotals {
  entries: number
  /** Bytes of live entries; with leftBytes, what is held within maxBytes. */
  bytes: number
  /** Distinct tags with rows in the index, including tags whose only rows are left ones. */
  tags: number
  /** Tags of live entries (left rows are not counted). */
  memberships: number
  /** The next entry id; ids only grow, so the eviction queue is in insertion order. */
  nextId: number
  /** Where SIEVE's hand stands in the queue: the id it looks at next. */
  hand: number
}

const INITIAL_TOTALS: Totals = {
  entries: 0,
  bytes: 0,
  tags: 0,
  memberships: 0,
  leftRows: 0,
  leftBytes: 0,
  leftSeq: 0,
  nextId: 1,
  hand: 0,
  purgeSeq: 0,
  purgeCount: 0,
  lastPurgeAt: 0,
  forgottenUntil: null,
}

/**
 * The eviction queue's rows: id → one byte, 1 when the entry was visited since the hand
 * last passed, then the entry's LMDB key. Bumped with any change to them (see LAYOUT).
 */
const QUEUE_FORMAT = 2
export const UNVISITED = 0
export const VISITED = 1

/**
 * The tag index: 2 since its rows may outlive their entry's membership (local-left-rows.ts).
 * An older edgecache must not open such a file: it would trust every row.
 */
const INDEX_FORMAT = 2

/** What the file says it is; another value means another edgecache wrote it. */
const LAYOUT = `edgecache-local-${RECORD_FORMAT}.${QUEUE_FORMAT}.${INDEX_FORMAT}`
/** Layouts this one reads as they are: a file of index format 1 simply has no left rows. */
const UPGRADABLE_LAYOUTS: readonly unknown[] = [`edgecache-local-${RECORD_FORMAT}.${QUEUE_FORMAT}`]

/** LMDB's page: values larger than about half of one go to pages of their own. */
export const PAGE_BYTES = 4_096
export const INLINE_MAX_BYTES = 2_000
/** Body bytes per chunk: 16 pages each, less LMDB's overflow header. */
export const CHUNK_BYTES = 16 * PAGE_BYTES - 64

/** The store under `path` was written by another version of edgecache (or is not one). */
export class IncompatibleStoreError extends Error {
  readonly code = 'EC_LOCAL_STORE_INCOMPATIBLE'
}

/**
 * Opens (creating if need be) the file in `path`'s `store/` folder, at most `mapBytes` large.
 * Throws {@link IncompatibleStoreError} when it holds a store of another layout.
 */
export function openLocalFile(path: string, mapBytes: number): LocalFile {
  // noSync: a process that dies leaves its commits in the page cache, whole; only a
  // crash of the host can lose or damage recent ones, and then the directory is set
  // aside at start (local-directory.ts). A sync per fill would cost 0.4 ms here.
  const root = open({
    path: join(path, 'store'),
    mapSize: mapBytes,
    maxDbs: 9,
    noSync: true,
    overlappingSync: false,
    pageSize: PAGE_BYTES,
  })
  const binary = { encoding: 'binary', keyEncoding: 'binary' } as const
  const file: LocalFile = {
    root,
    entries: root.openDB({ name: 'entries', ...binary }),
    chunks: root.openDB({ name: 'chunks', ...binary }),
    tags: root.openDB({ name: 'tags', ...binary, dupSort: true }),
    queue: root.openDB({ name: 'queue', ...binary }),
    left: root.openDB({ name: 'left', ...binary }),
    purges: root.openDB({ name: 'purges', encoding: 'json', keyEncoding: 'binary' }),
    state: root.openDB({ name: 'state', encoding: 'json' }),
  }
  checkLayout(file, path)
  return file
}

function checkLayout({ state, entries }: LocalFile, path: string): void {
  const layout = state.get('layout')
  if (layout === LAYOUT) return
  if ((layout === undefined && entries.getKeysCount() === 0) || UPGRADABLE_LAYOUTS.includes(layout)) {
    state.putSync('layout', LAYOUT)
    return
  }
  throw new IncompatibleStoreError(
    `${path} holds a store of another format (${String(layout ?? 'unknown')}, expected ${LAYOUT})`,
  )
}

/** The totals in the current transaction's view. */
export function readTotals(file: LocalFile): Totals {
  return { ...INITIAL_TOTALS, ...(file.state.get('totals') as Partial<Totals> | undefined) }
}

/** The totals as of the latest commit, outside a write transaction. */
export function latestTotals(file: LocalFile): Totals {
  file.root.resetReadTxn()
  return readTotals(file)
}

/** Inside a write transaction: keeps `totals` for the commit. */
export function writeTotals(file: LocalFile, totals: Totals): void {
  file.state.putSync('totals', totals)
}

/** Size of the data file under `path` on disk; 0 when there is none. */
export function dataFileBytes(path: string): number {
  try {
    return statSync(join(path, 'store', 'data.mdb')).size
  } catch {
    return 0
  }
}

/** Bytes of the file's pages in use or free for reuse: where the next new page would go. */
export function usedFileBytes(file: LocalFile): number {
  return (file.root.getStats() as { lastPageNumber: number }).lastPageNumber * PAGE_BYTES
}
