/**
 * The local store's lookup snapshot: each lookup sees every commit made before it, and
 * between lookups it holds no snapshot that would keep LMDB from reusing freed pages.
 * (Commits by another process: test/storage/local-store-processes.test.ts.)
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { open, type RootDatabase } from 'lmdb'
import { LookupSnapshot } from '../../src/storage/lmdb-snapshot.ts'

const dir = mkdtempSync(join(tmpdir(), 'edgecache-snapshot-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let dirs = 0

function openFile(): RootDatabase {
  return open({ path: join(dir, `f${dirs++}`), maxDbs: 4, noSync: true })
}

const binary = { encoding: 'binary', keyEncoding: 'binary' } as const
const key = Buffer.from('k')

function lookup(snapshot: LookupSnapshot, read: () => Buffer | undefined): string | undefined {
  snapshot.begin()
  try {
    return read()?.toString()
  } finally {
    snapshot.end()
  }
}

/** Rows of LMDB's reader table held by this process with a snapshot open (a reset one shows `-`). */
function openReaders(root: RootDatabase): string[] {
  const text = (root as unknown as { readerList(): string }).readerList()
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[0] === String(process.pid) && cols[2] !== '-')
    .map((cols) => cols.join(' '))
}

describe('lookup snapshot', () => {
  test('each lookup sees the commits made before it began', async () => {
    const root = openFile()
    const db = root.openDB<Buffer, Buffer>({ name: 'e', ...binary })
    const snapshot = new LookupSnapshot(root)
    assert.equal(
      lookup(snapshot, () => snapshot.read(db, key)),
      undefined,
    )
    db.putSync(key, Buffer.from('one'))
    assert.equal(
      lookup(snapshot, () => snapshot.read(db, key)),
      'one',
    )
    db.putSync(key, Buffer.from('two'))
    assert.equal(
      lookup(snapshot, () => snapshot.read(db, key)),
      'two',
    )
    snapshot.close()
    await root.close()
  })

  test('between lookups no snapshot is held open', async () => {
    const root = openFile()
    const db = root.openDB<Buffer, Buffer>({ name: 'e', ...binary })
    db.putSync(key, Buffer.from('one'))
    const snapshot = new LookupSnapshot(root)
    snapshot.begin()
    assert.equal(snapshot.read(db, key)?.toString(), 'one')
    assert.equal(openReaders(root).length, 1, 'open during the lookup')
    snapshot.end()
    assert.deepEqual(openReaders(root), [])
    snapshot.close()
    await root.close()
  })

  test('lmdb-js does not take it up: after reads of its own, and a database opened, it is still let go between lookups', async () => {
    const root = openFile()
    const db = root.openDB<Buffer, Buffer>({ name: 'e', ...binary })
    db.putSync(key, Buffer.from('one'))
    const snapshot = new LookupSnapshot(root)
    assert.equal(
      lookup(snapshot, () => snapshot.read(db, key)),
      'one',
    )
    // lmdb-js would take up a read transaction whose snapshot is the newest for its own
    // reads, then let go of it in use (not reset) on its timer, leaving a snapshot open.
    assert.equal(db.getBinary(key)?.toString(), 'one')
    // Opening a database commits lmdb-js's read transaction.
    const other = root.openDB<Buffer, Buffer>({ name: 'o', ...binary })
    other.putSync(key, Buffer.from('o'))
    assert.equal(other.getBinary(key)?.toString(), 'o')
    // lmdb-js resets its own read transaction on a setTimeout(0), which fires before this one.
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepEqual(openReaders(root), [])
    assert.equal(
      lookup(snapshot, () => snapshot.read(other, key)),
      'o',
    )
    snapshot.close()
    await root.close()
  })
})
