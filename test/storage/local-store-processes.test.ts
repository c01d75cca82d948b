/**
 * The local store as the workers of one host share it: two real processes on one directory.
 * Each sees the other's writes and purges at its next lookup, the purge race holds across
 * them, two writers at once keep the byte bound and the counts, and a process SIGKILLed
 * while writing or reading leaves a store that is whole and still works. The other process
 * is a child from test/support/local-peer.ts, driven over IPC; both read the real clock,
 * since two processes must agree on the time, and entries live for an hour.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createLocalStore, type LocalStore, type LocalStoreOptions } from '../../src/storage/local-store.ts'
import {
  type Audit,
  auditFills,
  entryFor,
  type Fill,
  fillEntry,
  type LocalPeer,
  type PeerStoreOptions,
  type Seen,
  seenOf,
  startLocalPeer,
} from '../support/local-peer.ts'

const MiB = 1024 * 1024

const root = mkdtempSync(join(tmpdir(), 'edgecache-local-processes-'))
const peers: LocalPeer[] = []
const stores: LocalStore[] = []
after(async () => {
  await Promise.all(peers.map((peer) => peer.kill()))
  await Promise.all(stores.map((store) => store.close()))
  rmSync(root, { recursive: true, force: true })
})
let dirs = 0
const freshDir = () => join(root, `s${dirs++}`)
let keys = 0
/** A key prefix no other test uses, for the tests that share a directory. */
const unique = (name: string) => `${name}/${keys++}/`

async function startPeer(options: PeerStoreOptions): Promise<LocalPeer> {
  const peer = await startLocalPeer(options)
  peers.push(peer)
  return peer
}

function openHere(options: LocalStoreOptions): LocalStore {
  const store = createLocalStore(options)
  stores.push(store)
  return store
}

/** One process's view of the store, the same whether it is this process or the child. */
type Side = Pick<LocalPeer, 'set' | 'peek' | 'get' | 'purge'>

function sideOf(store: LocalStore): Side {
  return {
    set: (key, size, extra) => store.set(key, entryFor(key, size, extra)),
    peek: async (key) => seenOf(key, store.peek(key)),
    get: async (key) => seenOf(key, await store.get(key)),
    purge: (selector, soft) => store.purge(selector, { soft }),
  }
}

const whole = (bodyBytes: number, tags: readonly string[] = []): Seen => ({ bodyBytes, whole: true, tags })

/** Lets this process's event loop run, so the child's IPC reports come in while it writes. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/** What must hold of a store after any mix of writers: every readable body whole, and the counts match them. */
function assertConsistent(audit: Audit, maxBytes: number): void {
  assert.deepEqual(audit.broken, [], 'every body read is whole')
  assert.equal(audit.stats.entries, audit.readable.length, 'entries counts the readable keys')
  assert.ok(audit.stats.bytes <= maxBytes, `bytes ${audit.stats.bytes} within maxBytes ${maxBytes}`)
  assert.deepEqual(audit.tagged, audit.readable, 'the tag index lists the readable keys')
  assert.equal(audit.stats.taggedKeys, audit.memberships, 'taggedKeys counts their tags')
  assert.equal(audit.stats.tags, audit.tags.length, 'tags counts their distinct tags')
}

/** Deletes every one of `keys` still there; then every count must be back at zero. */
async function assertEmptiesToZero(store: LocalStore, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    if (store.peek(key) !== undefined) assert.equal(await store.delete(key), true, `deleted ${key}`)
  }
  assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
}

/** Every key `fills` could have written. */
const keysOf = (fills: readonly Fill[]) =>
  fills.flatMap((fill) => Array.from({ length: fill.count }, (_, i) => `${fill.prefix}${i}`))

describe('local store: two processes on one directory', () => {
  let here: Side
  let child: Side
  before(async () => {
    const path = freshDir()
    here = sideOf(openHere({ path }))
    child = await startPeer({ path })
  })
  const directions = [
    { a: 'the child', b: 'this process', sides: () => ({ a: child, b: here }) },
    { a: 'this process', b: 'the child', sides: () => ({ a: here, b: child }) },
  ]

  for (const { a: writer, b: reader, sides } of directions) {
    test(`an entry ${writer} sets or replaces is returned by ${reader}'s very next peek and get`, async () => {
      const { a, b } = sides()
      const key = `${unique('set')}k`
      assert.equal(await b.peek(key), undefined)
      assert.equal(await a.set(key, 1_000, { tags: ['t'] }), true)
      assert.deepEqual(await b.peek(key), whole(1_000, ['t']))
      assert.deepEqual(await b.get(key), whole(1_000, ['t']))
      // The reader holds a decoded copy now; the replacement (chunked) must win over it.
      assert.equal(await a.set(key, 200_000), true)
      assert.deepEqual(await b.peek(key), whole(200_000))
      assert.deepEqual(await b.get(key), whole(200_000))
    })
  }

  const purges = [
    { name: 'a hard purge by tag', soft: false, selector: (p: string) => ({ tags: [`${p}tag`] }) },
    { name: 'a soft purge by tag', soft: true, selector: (p: string) => ({ tags: [`${p}tag`] }) },
    { name: 'a hard purge by prefix', soft: false, selector: (p: string) => ({ prefixes: [`${p}in/`] }) },
  ]
  for (const { a: purger, b: reader, sides } of directions) {
    for (const { name, soft, selector } of purges) {
      test(`${name} run in ${purger} is seen by ${reader}'s next lookup, copy held or not`, async () => {
        const { a, b } = sides()
        const p = unique('purge')
        const held = `${p}in/held`
        const cold = `${p}in/cold`
        const spared = `${p}out/spared`
        assert.equal(await a.set(held, 3_000, { tags: [`${p}tag`] }), true)
        assert.equal(await a.set(cold, 90_000, { tags: [`${p}tag`] }), true)
        assert.equal(await a.set(spared, 3_000, { tags: [`${p}other`] }), true)
        assert.deepEqual(await b.peek(held), whole(3_000, [`${p}tag`]), 'the reader holds a copy')
        const purgedFrom = Date.now()
        assert.equal(await a.purge(selector(p), soft), 2)
        const purgedBy = Date.now()
        for (const key of [held, cold]) {
          for (const lookup of [b.peek, b.get]) {
            const seen = await lookup(key)
            if (!soft) {
              assert.equal(seen, undefined, `${key} gone after a hard purge`)
              continue
            }
            assert.equal(seen?.whole, true, `${key} still served after a soft purge`)
            const at = seen?.invalidatedAt ?? Number.NaN
            assert.ok(at >= purgedFrom && at <= purgedBy, `${key}: invalidatedAt ${at} is the purge's time`)
          }
        }
        assert.deepEqual(await b.peek(spared), whole(3_000, [`${p}other`]), 'an entry not selected stays')
      })
    }
  }

  for (const { a: purger, b: setter, sides } of directions) {
    for (const soft of [false, true]) {
      test(`a key ${setter} stores again with other tags after a hard purge in ${purger} is not reached by a ${soft ? 'soft' : 'hard'} purge of a tag it lost`, async () => {
        const { a, b } = sides()
        const p = unique('left')
        const key = `${p}k`
        assert.equal(await a.set(key, 2_000, { tags: [`${p}a`, `${p}b`] }), true)
        // The purger leaves the key's row under b behind, for its sweep.
        assert.equal(await a.purge({ tags: [`${p}a`] }, false), 1)
        assert.equal(await b.set(key, 2_000, { tags: [`${p}c`] }), true)
        assert.equal(await a.purge({ tags: [`${p}b`] }, soft), 0)
        assert.equal(await b.purge({ tags: [`${p}b`] }, soft), 0)
        for (const side of [a, b]) assert.deepEqual(await side.peek(key), whole(2_000, [`${p}c`]))
      })
    }
  }

  for (const { a: setter, b: purger, sides } of directions) {
    test(`a set in ${setter} fetched before a hard purge run in ${purger} is refused`, async () => {
      const { a, b } = sides()
      const p = unique('race')
      const key = `${p}k`
      assert.equal(await a.set(key, 2_000, { tags: [`${p}tag`], fetchedAt: Date.now() }), true)
      // A refill of the key starts; the purge lands before it is stored.
      const fetchedAt = Date.now()
      assert.equal(await b.purge({ tags: [`${p}tag`] }, false), 1)
      assert.equal(await a.set(key, 2_000, { tags: [`${p}tag`], fetchedAt }), false)
      assert.equal(await a.peek(key), undefined)
      assert.equal(await b.peek(key), undefined)
      // One fetched after the purge is stored: the refusal is the race, not the tag.
      const later = Date.now() + 1
      assert.equal(await a.set(key, 2_000, { tags: [`${p}tag`], fetchedAt: later }), true)
      assert.deepEqual(await b.peek(key), { ...whole(2_000, [`${p}tag`]), fetchedAt: later })
    })

    test(`a set in ${setter} fetched before a soft purge run in ${purger} is stored already invalidated`, async () => {
      const { a, b } = sides()
      const p = unique('soft-race')
      const key = `${p}k`
      const fetchedAt = Date.now()
      assert.equal(await b.purge({ tags: [`${p}tag`] }, true), 0)
      const purgedBy = Date.now()
      assert.equal(await a.set(key, 2_000, { tags: [`${p}tag`], fetchedAt }), true)
      const seen = await b.peek(key)
      assert.equal(seen?.whole, true)
      const at = seen?.invalidatedAt ?? Number.NaN
      assert.ok(at >= fetchedAt && at <= purgedBy, `invalidatedAt ${at} is the purge's time`)
    })
  }
})

describe('local store: two processes at once, and one killed', () => {
  test('two processes writing 2,000 entries each at once keep bytes within maxBytes, and entries equal what is readable', async () => {
    const path = freshDir()
    const maxBytes = 2 * MiB
    const store = openHere({ path, maxBytes })
    const peer = await startPeer({ path, maxBytes })
    const sizes = [300, 4_000, 900, 20_000, 70_000, 1_500, 9_000, 120_000, 600, 40_000]
    const theirs: Fill = { prefix: 'child/', count: 2_000, sizes }
    const ours: Fill = { prefix: 'parent/', count: 2_000, sizes: [...sizes].reverse() }
    const fill = peer.fill(theirs, 50)
    await fill.progress(50)
    const theirsAtStart = fill.latest()
    for (let i = 0; i < ours.count; i++) {
      const { key, size, tags } = fillEntry(ours, i)
      await store.set(key, entryFor(key, size, { tags }))
      if (i % 16 === 15) await tick()
    }
    const theirsAtEnd = fill.latest()
    assert.ok(await fill.done, 'the child stored some')
    assert.ok(
      theirsAtEnd > theirsAtStart,
      `the child wrote while this process did (${theirsAtStart} → ${theirsAtEnd})`,
    )
    const audit = await auditFills(store, [theirs, ours])
    assert.ok(audit.readable.length > 0)
    assertConsistent(audit, maxBytes)
    const seenByChild = await peer.audit([theirs, ours])
    assert.deepEqual(seenByChild.readable, audit.readable, 'the child reads the same keys')
    assert.deepEqual(seenByChild.stats, audit.stats)
    await assertEmptiesToZero(store, keysOf([theirs, ours]))
  })

  test('a process SIGKILLed while filling leaves only whole entries and counts that match, and the store still takes writes', async () => {
    const path = freshDir()
    const maxBytes = 8 * MiB
    const store = openHere({ path, maxBytes })
    // Bodies over 65,472 bytes are written as chunks: a kill can land between them.
    const sizes = [700, 12_000, 90_000, 3_000, 150_000, 40_000, 200, 70_000, 300_000]
    const fills: Fill[] = []
    for (const [round, killAfter] of [40, 75, 110].entries()) {
      const peer = await startPeer({ path, maxBytes })
      const fill: Fill = { prefix: `killed${round}/`, count: 1_000_000, sizes }
      const run = peer.fill(fill, 1)
      await run.progress(killAfter)
      await peer.kill()
      await assert.rejects(run.done, /exited \(SIGKILL\)/, 'killed mid-fill')
      // The kill lands a few sets after the last report at most; the tag index check in
      // assertConsistent would show any key past the walk.
      fills.push({ ...fill, count: run.latest() + 1_000 })
      assertConsistent(await auditFills(store, fills), maxBytes)
    }
    const audit = await auditFills(store, fills)
    assert.ok(audit.readable.length > 0)

    // A store opened after the kills (a replacement worker) reads the same, and writes.
    const fresh = await startPeer({ path, maxBytes })
    const seenFresh = await fresh.audit(fills)
    assertConsistent(seenFresh, maxBytes)
    assert.deepEqual(seenFresh.readable, audit.readable)
    assert.equal(await fresh.set('after/fresh', 100_000), true)
    assert.deepEqual(seenOf('after/fresh', store.peek('after/fresh')), whole(100_000))
    assert.equal(await store.set('after/here', entryFor('after/here', 100_000)), true)
    assert.deepEqual(await fresh.peek('after/here'), whole(100_000))
    await assertEmptiesToZero(store, [...keysOf(fills), 'after/fresh', 'after/here'])
  })

  test('a process killed inside a write transaction leaves the store as it was, and the next writer gets the lock', async () => {
    const path = freshDir()
    const maxBytes = 1 * MiB
    const store = openHere({ path, maxBytes })
    const full: Fill = { prefix: 'full/', count: 60, sizes: [5_000, 90_000, 300] }
    for (let i = 0; i < full.count; i++) {
      const { key, size, tags } = fillEntry(full, i)
      await store.set(key, entryFor(key, size, { tags }))
    }
    const more: Fill = { prefix: 'more/', count: 2, sizes: [200_000, 1_000] }
    const big = fillEntry(more, 0)
    const before = await auditFills(store, [full, more])
    assertConsistent(before, maxBytes)
    assert.ok(before.stats.bytes + big.size > maxBytes, 'the big set must evict')

    const dying = await startPeer({ path, maxBytes, dieOnEvict: true })
    await assert.rejects(dying.set(big.key, big.size, { tags: big.tags }), /exited \(SIGKILL\)/)
    // Nothing of its transaction is left: neither the entry nor the eviction made for it.
    const afterDeath = await auditFills(store, [full, more])
    assert.deepEqual(afterDeath.readable, before.readable)
    assert.deepEqual(afterDeath.stats, before.stats)

    // The dead process held LMDB's write lock; the next writer takes it over. A new child
    // writes first, so a lock never freed fails on the call's timeout instead of hanging.
    const next = await startPeer({ path, maxBytes })
    assert.equal(await next.set(big.key, big.size, { tags: big.tags }), true)
    assert.deepEqual(seenOf(big.key, store.peek(big.key)), whole(big.size, big.tags))
    const small = fillEntry(more, 1)
    assert.equal(await store.set(small.key, entryFor(small.key, small.size, { tags: small.tags })), true)
    assert.deepEqual(await next.peek(small.key), whole(small.size, small.tags))
    assertConsistent(await auditFills(store, [full, more]), maxBytes)
  })

  test('a reader slot left by a SIGKILLed process does not stop the store: one opened after it writes and reuses pages', async () => {
    const path = freshDir()
    const options = { path, maxBytes: 1 * MiB, mapBytes: 4 * MiB }
    const store = openHere(options)
    const held = Array.from({ length: 8 }, (_, i) => `held/${i}`)
    for (const key of held) assert.equal(await store.set(key, entryFor(key, 10_000)), true)
    const reader = await startPeer(options)
    await reader.readLoop(held)
    await reader.kill()

    // Opening runs LMDB's reader check, which frees the dead process's slot: the snapshot it
    // held no longer keeps freed pages from reuse, so writing the map's size four times
    // over leaves the file within it.
    const fresh = await startPeer(options)
    const refill: Fill = {
      prefix: 'after/',
      count: Math.ceil((4 * options.mapBytes) / 20_000),
      sizes: [20_000],
    }
    assert.equal(await fresh.fill(refill, 100).done, refill.count, 'every set stored')
    assert.ok(store.fileBytes() <= options.mapBytes, `file ${store.fileBytes()} within mapBytes`)
    // Nor did the store, finding its file full, evict what it should have kept.
    const { bytes } = store.stats()
    assert.ok(bytes >= options.maxBytes / 2, `bytes ${bytes}: the store holds at least half of maxBytes`)
    const last = fillEntry(refill, refill.count - 1)
    assert.deepEqual(await fresh.peek(last.key), whole(last.size, last.tags))
    assert.deepEqual(seenOf(last.key, store.peek(last.key)), whole(last.size, last.tags))
    assert.equal(await store.set('here', entryFor('here', 20_000)), true)
    assert.deepEqual(await fresh.get('here'), whole(20_000))
  })
})

describe('local store: a reader killed while the store is open', () => {
  test('its reader slot neither grows the file past mapBytes nor empties the store', async () => {
    const options = { path: freshDir(), maxBytes: MiB, mapBytes: 4 * MiB }
    const store = openHere(options)
    const held = Array.from({ length: 8 }, (_, i) => `held/${i}`)
    for (const key of held) assert.equal(await store.set(key, entryFor(key, 10_000)), true)
    const reader = await startPeer(options)
    await reader.readLoop(held)
    await reader.kill()
    // No store is opened after the kill, so only the writer's own check clears the slot.
    for (let i = 0; i < 800; i++) await store.set(`after/${i}`, entryFor(`after/${i}`, 20_000))
    const { entries, bytes } = store.stats()
    assert.ok(store.fileBytes() <= options.mapBytes, `file ${store.fileBytes()} within ${options.mapBytes}`)
    assert.ok(
      bytes >= options.maxBytes / 2,
      `still holds half of maxBytes: ${entries} entries, ${bytes} bytes`,
    )
  })
})
