/**
 * The local store: the store contract against a fresh directory per test, then what only a
 * store in a file has: entries that outlive the process object, the byte bound, chunked
 * bodies, and records written by another version.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { createLocalStore, type LocalStoreOptions } from '../../src/storage/local-store.ts'
import { createFakeClock } from '../support/clock.ts'
import { describeStoreContract } from '../contract/store-contract.ts'

const root = mkdtempSync(join(tmpdir(), 'edgecache-local-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = () => join(root, `s${dirs++}`)

describeStoreContract('local store', (clock) => createLocalStore({ path: freshDir(), clock }))

function open(options: Partial<LocalStoreOptions> & { path: string }) {
  return createLocalStore({ clock: createFakeClock(), ...options })
}

describe('local store: in a file', () => {
  test('a store opened again on the same directory finds what was stored', async () => {
    const path = freshDir()
    const clock = createFakeClock()
    const first = createLocalStore({ path, clock })
    await first.set('k', {
      meta: { status: 200 },
      body: Buffer.from('kept'),
      expiresAt: clock.now() + 60_000,
      tags: ['t'],
    })
    await first.close()
    const second = createLocalStore({ path, clock })
    const found = await second.get('k')
    assert.equal(found?.body.toString(), 'kept')
    assert.deepEqual(await second.keysForTag('t'), ['k'])
    assert.equal(second.stats().entries, 1)
    await second.close()
  })

  test('a body larger than one chunk comes back whole', async () => {
    const store = open({ path: freshDir() })
    const body = Buffer.alloc(300_000)
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff
    await store.set('big', { meta: {}, body, expiresAt: Date.now() + 60_000 })
    const found = await store.get('big')
    assert.ok(found?.body.equals(body))
    assert.equal(await store.delete('big'), true)
    assert.equal(store.stats().bytes, 0)
    await store.close()
  })

  test('a key longer than LMDB allows is stored, kept apart, and reached by a prefix purge', async () => {
    const clock = createFakeClock()
    const store = open({ path: freshDir(), clock })
    const long = `https://a.test/${'x'.repeat(5_000)}`
    const other = `${long}y`
    await store.set(long, { meta: { n: 1 }, body: Buffer.from('1'), expiresAt: clock.now() + 60_000 })
    await store.set(other, { meta: { n: 2 }, body: Buffer.from('2'), expiresAt: clock.now() + 60_000 })
    assert.equal((await store.get(long))?.body.toString(), '1')
    assert.equal((await store.get(other))?.body.toString(), '2')
    assert.equal(await store.purge({ prefixes: [`${long}y`] }, { soft: false }), 1)
    assert.equal(await store.get(other), undefined)
    assert.equal(await store.purge({ prefixes: ['https://a.test/'] }, { soft: false }), 1)
    await store.close()
  })

  test('writing three times maxBytes of distinct entries leaves it at or under maxBytes', async () => {
    const clock = createFakeClock()
    const maxBytes = 1024 * 1024
    const evicted: string[] = []
    const store = open({ path: freshDir(), clock, maxBytes, onEvict: (key) => evicted.push(key) })
    let written = 0
    for (let i = 0; written < 3 * maxBytes; i++) {
      const body = Buffer.alloc(500 + ((i * 977) % 9_000))
      await store.set(`k${i}`, { meta: { i }, body, expiresAt: clock.now() + 60_000, tags: [`t${i % 10}`] })
      written += body.length
      assert.ok(
        store.stats().bytes <= maxBytes,
        `bytes ${store.stats().bytes} over ${maxBytes} after ${i + 1} sets`,
      )
    }
    assert.ok(evicted.length > 0)
    assert.ok(store.fileBytes() <= store.mapBytes)
    await store.close()
  })

  test('an entry hit since the last eviction survives the next one (SIEVE)', async () => {
    const clock = createFakeClock()
    // Room for about four 10 KiB entries.
    const store = open({ path: freshDir(), clock, maxBytes: 4 * 13_000, maxObjectBytes: 13_000 })
    const put = (key: string) =>
      store.set(key, { meta: {}, body: Buffer.alloc(10_000), expiresAt: clock.now() + 60_000 })
    for (const key of ['a', 'b', 'c', 'd']) await put(key)
    assert.ok(store.peek('a'))
    await put('e')
    assert.ok(store.peek('a'), 'the visited entry stays')
    assert.equal(store.peek('b'), undefined, 'the oldest unvisited entry goes')
    await store.close()
  })

  test('the file stays within its map size: writes make room first', async () => {
    const clock = createFakeClock()
    // A map far smaller than maxBytes: the file fills before the byte bound is reached.
    const mapBytes = 8 * 1024 * 1024
    const store = open({ path: freshDir(), clock, maxBytes: 64 * 1024 * 1024, mapBytes })
    for (let i = 0; i < 1_600; i++) {
      const stored = await store.set(`k${i}`, {
        meta: {},
        body: Buffer.alloc(20_000),
        expiresAt: clock.now() + 60_000,
      })
      assert.equal(stored, true, `set ${i} stored`)
    }
    assert.ok(store.fileBytes() <= mapBytes, `file ${store.fileBytes()} within ${mapBytes}`)
    assert.ok(store.stats().bytes >= mapBytes / 4, 'and it still holds a good share of it')
    assert.ok(await store.get('k1599'))
    await store.close()
  })

  test('a copy kept by this process is not served once the entry is soft-purged, replaced or deleted', async () => {
    const clock = createFakeClock()
    const path = freshDir()
    const store = open({ path, clock })
    const other = open({ path, clock })
    await store.set('k', {
      meta: { v: 1 },
      body: Buffer.from('one'),
      expiresAt: clock.now() + 60_000,
      tags: ['t'],
    })
    assert.deepEqual(store.peek('k')?.meta, { v: 1 })
    await other.purge({ tags: ['t'] }, { soft: true })
    assert.equal(store.peek('k')?.invalidatedAt, clock.now())
    await other.set('k', { meta: { v: 2 }, body: Buffer.from('two'), expiresAt: clock.now() + 60_000 })
    assert.deepEqual(store.peek('k')?.meta, { v: 2 })
    await other.delete('k')
    assert.equal(store.peek('k'), undefined)
    await other.close()
    await store.close()
  })

  test('bad options are refused with the field named', () => {
    assert.throws(() => createLocalStore({ path: '' }), /local store: path must be a directory/)
    assert.throws(
      () => createLocalStore({ path: freshDir(), maxBytes: -1 }),
      /local store: maxBytes must be a positive integer, got -1/,
    )
  })
})
