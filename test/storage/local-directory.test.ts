/**
 * The cache directory: one instance holds it, and a store in it that cannot be used is set
 * aside with one log line, so the instance starts empty rather than crashing or serving it.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { open } from 'lmdb'
import { hasCode } from '../../src/errors.ts'
import { claimDirectory, openLocalStore, prepareLocalStore } from '../../src/storage/local-directory.ts'
import { createLocalStore } from '../../src/storage/local-store.ts'

const root = mkdtempSync(join(tmpdir(), 'edgecache-directory-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = () => join(root, `d${dirs++}`)

function recordingLog() {
  const lines: { obj: Record<string, unknown>; msg: string }[] = []
  return {
    lines,
    warn: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }),
  }
}

const entry = () => ({ meta: { status: 200 }, body: Buffer.from('body'), expiresAt: Date.now() + 60_000 })

/** The store's LMDB environment opened directly, to write what a store of another kind would. */
function openRaw(path: string) {
  return open({ path: join(path, 'store'), maxDbs: 8, noSync: true, overlappingSync: false, pageSize: 4096 })
}

/** A store in `path` that says it was written by another edgecache version. */
async function storeOfAnotherLayout(path: string): Promise<void> {
  const first = createLocalStore({ path })
  await first.set('k', entry())
  await first.close()
  const env = openRaw(path)
  env.openDB({ name: 'state', encoding: 'json' }).putSync('layout', 'edgecache-local-999')
  await env.close()
}

describe('claimDirectory', () => {
  test('a directory held by a live process is refused, naming the directory and the pid', async () => {
    const dir = freshDir()
    mkdirSync(dir, { recursive: true })
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    try {
      writeFileSync(join(dir, 'instance.pid'), `${holder.pid}\n`)
      assert.throws(
        () => claimDirectory(dir),
        (err: unknown) =>
          hasCode(err, 'EC_ERR_STORAGE_DIRECTORY_IN_USE') &&
          (err as Error).message.includes(dir) &&
          (err as Error).message.includes(`process ${holder.pid}`),
      )
    } finally {
      holder.kill('SIGKILL')
    }
  })

  test('a pid file left by a process that is gone is taken over, and released', async () => {
    const dir = freshDir()
    mkdirSync(dir, { recursive: true })
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    await new Promise((resolve) => gone.on('exit', resolve))
    writeFileSync(join(dir, 'instance.pid'), `${gone.pid}\n`)
    const claim = claimDirectory(dir)
    claim.release()
    assert.equal(existsSync(join(dir, 'instance.pid')), false)
    claimDirectory(dir).release()
  })
})

describe('a store that cannot be used', () => {
  test('one written with another layout is set aside on open, with one log line, and the store starts empty', async () => {
    const path = freshDir()
    await storeOfAnotherLayout(path)

    const log = recordingLog()
    const store = openLocalStore({ path }, log, true)
    assert.equal(await store.get('k'), undefined)
    assert.equal(store.stats().entries, 0)
    await store.close()
    assert.equal(log.lines.length, 1)
    assert.match(log.lines[0]!.msg, /set aside/)
    assert.ok(existsSync(join(path, 'store.set-aside', 'data.mdb')))
  })

  test('without setting aside (a worker), the same store is an error, not a silent reset', async () => {
    const path = freshDir()
    await storeOfAnotherLayout(path)
    assert.throws(() => openLocalStore({ path }, recordingLog(), false), /another format/)
  })

  test('a data file that is not LMDB is set aside before anything opens it', async () => {
    const path = freshDir()
    mkdirSync(join(path, 'store'), { recursive: true })
    writeFileSync(join(path, 'store', 'data.mdb'), Buffer.alloc(16_384, 0x5a))
    const log = recordingLog()
    await prepareLocalStore(path, log)
    assert.equal(log.lines.length, 1)
    assert.equal(log.lines[0]!.obj.reason, 'not an LMDB data file')
    assert.ok(existsSync(join(path, 'store.set-aside', 'data.mdb')))
    // A new, empty store is in its place, created before any worker opens it.
    const store = createLocalStore({ path })
    assert.equal(store.stats().entries, 0)
    await store.close()
  })

  test('a new directory gets its store created here, before the workers that would race to create it', async () => {
    const path = freshDir()
    const log = recordingLog()
    await prepareLocalStore(path, log)
    assert.deepEqual(log.lines, [])
    assert.ok(existsSync(join(path, 'store', 'data.mdb')))
  })

  test('a store with a record that does not read back is set aside by the check', async () => {
    const path = freshDir()
    const store = createLocalStore({ path })
    await store.set('good', entry())
    await store.close()
    // A record cut short, as a damaged file could hold.
    const env = openRaw(path)
    const entries = env.openDB({ name: 'entries', encoding: 'binary', keyEncoding: 'binary' })
    entries.putSync(Buffer.from('kbad'), Buffer.from([1, 0, 0, 0]))
    await env.close()

    const log = recordingLog()
    await prepareLocalStore(path, log)
    assert.equal(log.lines.length, 1, JSON.stringify(log.lines))
    assert.match(String(log.lines[0]!.obj.reason), /does not decode/)
    const fresh = createLocalStore({ path })
    assert.equal(await fresh.get('good'), undefined)
    await fresh.close()
  })

  test('a healthy store is kept as it is', async () => {
    const path = freshDir()
    const store = createLocalStore({ path })
    await store.set('good', entry())
    await store.close()
    const log = recordingLog()
    await prepareLocalStore(path, log)
    assert.deepEqual(log.lines, [])
    const again = createLocalStore({ path })
    assert.equal((await again.get('good'))?.body.toString(), 'body')
    await again.close()
  })
})
