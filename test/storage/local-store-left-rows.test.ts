/**
 * The local store's tag-index rows that a hard purge leaves behind for a later sweep
 * (src/storage/local-left-rows.ts). Until they are swept they must never purge, list or
 * count an entry that does not carry their tag; their bytes count within maxBytes and go
 * before any live entry does; once swept, the counts are those of a store that only ever
 * held what it holds. setImmediate is mocked so that the background sweep runs only when
 * a test says so.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, type TestContext, test } from 'node:test'
import { createLocalStore, type LocalStore, type LocalStoreOptions } from '../../src/storage/local-store.ts'
import type { StoredEntry } from '../../src/storage/store.ts'
import { createFakeClock, type FakeClock } from '../support/clock.ts'

const root = mkdtempSync(join(tmpdir(), 'edgecache-local-left-'))
after(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0

const mocked = new WeakSet<TestContext>()

/** Holds back this test's setImmediate callbacks, the background sweep among them, until {@link turn}. */
function mockImmediates(t: TestContext): void {
  if (mocked.has(t)) return
  mocked.add(t)
  t.mock.timers.enable({ apis: ['setImmediate'] })
}

/** Runs the immediates held back, and those they schedule, as turns of the event loop would. */
function turn(t: TestContext): void {
  for (let i = 0; i < 1_000; i++) t.mock.timers.tick(0)
}

function open(
  t: TestContext,
  options: Partial<LocalStoreOptions> = {},
): { store: LocalStore; clock: FakeClock } {
  mockImmediates(t)
  const clock = createFakeClock()
  const store = createLocalStore({ path: join(root, `s${dirs++}`), clock, ...options })
  // lmdb-js closes on a later immediate: the real ones.
  t.after(() => {
    t.mock.timers.reset()
    return store.close()
  })
  return { store, clock }
}

function entry(clock: FakeClock, tags: readonly string[], bodyBytes = 100): StoredEntry {
  return {
    meta: { tags: tags.length },
    body: Buffer.alloc(bodyBytes, 0x61),
    expiresAt: clock.now() + 60_000,
    tags,
  }
}

/** The counts of a fresh store holding exactly `entries`. */
async function countsOf(t: TestContext, entries: readonly (readonly [string, readonly string[]])[]) {
  const { store, clock } = open(t)
  for (const [key, tags] of entries) await store.set(key, entry(clock, tags))
  return store.stats()
}

describe('local store: rows a hard purge leaves behind', () => {
  test('a key stored again with other tags is not hard-purged, nor listed, by a tag it no longer carries', async (t) => {
    const { store, clock } = open(t)
    await store.set('k', entry(clock, ['a', 'b']))
    assert.equal(await store.purge({ tags: ['a'] }, { soft: false }), 1)
    assert.equal(store.stats().tags, 1, "b's row is left behind until the sweep")
    assert.equal(store.stats().taggedKeys, 0, 'but it is no live membership')
    assert.deepEqual(await store.keysForTag('b'), [], 'and lists nothing')
    await store.set('k', entry(clock, ['c']))
    assert.deepEqual(await store.keysForTag('b'), [])
    assert.equal(await store.purge({ tags: ['b'] }, { soft: false }), 0)
    assert.equal(
      await store.purge({ tags: ['b', 'nothing'] }, { soft: false }),
      0,
      'nor through the general path',
    )
    assert.ok(await store.get('k'), 'k, stored again without b, stays')
    assert.deepEqual(await store.keysForTag('c'), ['k'])
    await store.sweep()
    assert.deepEqual(store.stats(), await countsOf(t, [['k', ['c']]]))
  })

  test('a key stored again with other tags is not soft-purged by a tag it no longer carries, and the row met goes', async (t) => {
    const { store, clock } = open(t)
    await store.set('k', entry(clock, ['a', 'b']))
    await store.set('other', entry(clock, ['b']))
    assert.equal(await store.purge({ tags: ['a'] }, { soft: false }), 1)
    await store.set('k', entry(clock, ['c']))
    clock.advance(1_000)
    assert.equal(await store.purge({ tags: ['b'] }, { soft: true }), 1)
    assert.equal((await store.get('k'))?.invalidatedAt, undefined, 'k is not invalidated')
    assert.equal((await store.get('other'))?.invalidatedAt, clock.now())
    assert.deepEqual(await store.keysForTag('b'), ['other'])
    const held = await countsOf(t, [
      ['other', ['b']],
      ['k', ['c']],
    ])
    const { tags, taggedKeys } = store.stats()
    assert.deepEqual(
      { tags, taggedKeys },
      { tags: held.tags, taggedKeys: held.taggedKeys },
      'the row met is gone',
    )
    assert.ok(store.stats().bytes > held.bytes, 'its bytes count until the sweep')
    await store.sweep()
    assert.deepEqual(store.stats(), held)
  })

  test('a key stored again with the tag it lost is reached by it again, and the sweep keeps its row', async (t) => {
    const { store, clock } = open(t)
    await store.set('k', entry(clock, ['a', 'b']))
    await store.purge({ tags: ['a'] }, { soft: false })
    await store.set('k', entry(clock, ['b']))
    assert.deepEqual(await store.keysForTag('b'), ['k'])
    assert.equal(await store.sweep(), 1)
    assert.deepEqual(await store.keysForTag('b'), ['k'])
    assert.deepEqual(store.stats(), await countsOf(t, [['k', ['b']]]))
    assert.equal(await store.purge({ tags: ['b'] }, { soft: false }), 1)
    assert.equal(await store.get('k'), undefined)
  })

  test('left rows count within bytes until swept; then the counts are those of what is held', async (t) => {
    const { store, clock } = open(t)
    for (let i = 0; i < 600; i++) await store.set(`k${i}`, entry(clock, ['all', `one:${i}`, `mod:${i % 7}`]))
    await store.set('kept', entry(clock, ['mod:1']))
    assert.equal(await store.purge({ tags: ['all'] }, { soft: false }), 600)
    const before = store.stats()
    assert.equal(before.entries, 1)
    assert.equal(before.taggedKeys, 1)
    assert.equal(before.tags, 607, 'tags with left rows still count')
    const held = await countsOf(t, [['kept', ['mod:1']]])
    assert.ok(before.bytes > held.bytes, 'left rows count as bytes')
    // 600 entries: three batches.
    assert.equal(await store.sweep(), 3)
    assert.deepEqual(store.stats(), held)
    assert.deepEqual(await store.keysForTag('mod:1'), ['kept'])
  })

  test('the store sweeps by itself once the event loop turns', async (t) => {
    const { store, clock } = open(t)
    for (let i = 0; i < 300; i++) await store.set(`k${i}`, entry(clock, ['all', `one:${i}`]))
    await store.purge({ tags: ['all'] }, { soft: false })
    assert.equal(store.stats().tags, 300)
    turn(t)
    assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
  })

  test('a store opened on a directory with left rows sweeps them', async (t) => {
    const path = join(root, `s${dirs++}`)
    const clock = createFakeClock()
    const first = createLocalStore({ path, clock })
    await first.set('k', entry(clock, ['a', 'b']))
    await first.purge({ tags: ['a'] }, { soft: false })
    // Closed before its sweep could run.
    await first.close()
    mockImmediates(t)
    const second = createLocalStore({ path, clock })
    t.after(() => {
      t.mock.timers.reset()
      return second.close()
    })
    assert.equal(second.stats().tags, 1)
    turn(t)
    assert.deepEqual(second.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
  })

  test('a hard purge of everything leaves nothing behind', async (t) => {
    const { store, clock } = open(t)
    await store.set('a', entry(clock, ['x', 'y']))
    await store.purge({ tags: ['x'] }, { soft: false })
    await store.set('b', entry(clock, ['z']))
    assert.equal(await store.purge({ all: true }, { soft: false }), 1)
    assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
    assert.equal(await store.sweep(), 0)
  })

  test('eviction goes on with left rows, sweeping them before any live entry goes, within maxBytes', async (t) => {
    const maxBytes = 64 * 1024
    const evicted: string[] = []
    const { store, clock } = open(t, { maxBytes, onEvict: (key, reason) => evicted.push(`${reason} ${key}`) })
    for (let i = 0; i < 20; i++) await store.set(`p${i}`, entry(clock, ['all', `one:${i}`], 1_000))
    await store.purge({ tags: ['all'] }, { soft: false })
    evicted.length = 0
    const leftBytes = store.stats().bytes
    assert.ok(leftBytes > 0)
    let i = 0
    for (; store.stats().bytes + 2_000 < maxBytes; i++) {
      await store.set(`k${i}`, entry(clock, [`k:${i}`], 1_000))
    }
    assert.equal(store.stats().tags, 20 + i, 'nothing swept while there was room')
    for (const end = 5 * i; i < end; i++) {
      await store.set(`k${i}`, entry(clock, [`k:${i}`], 1_000))
      assert.ok(store.stats().bytes <= maxBytes, `bytes ${store.stats().bytes} over ${maxBytes}`)
    }
    assert.ok(
      evicted.some((line) => line.startsWith('evict ')),
      'live entries are evicted once the rows are gone',
    )
    const { entries, tags, taggedKeys } = store.stats()
    assert.equal(tags, entries, 'the left rows were swept: each held entry has its one tag')
    assert.equal(taggedKeys, entries)
    assert.equal(await store.sweep(), 0)
  })
})
