/**
 * The tag index, purges and the purge race, as every CacheStore keeps them: the rules are
 * written at the top of ./store-contract.ts, which runs these suites for each store. Only
 * the public methods and a fake clock; nothing here knows how a store keeps its index.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { CacheStore, StoredEntry } from '../../src/storage/store.ts'
import { createFakeClock, type FakeClock } from '../support/clock.ts'
import type { MakeStore } from './store-contract.ts'

const MINUTE_MS = 60_000

/** Registers the tag, purge and purge-race suites for the store `makeStore` builds. */
export function describePurgeContract(name: string, makeStore: MakeStore): void {
  async function withStore(fn: (store: CacheStore, clock: FakeClock) => Promise<void>): Promise<void> {
    const clock = createFakeClock()
    const store = await makeStore(clock)
    try {
      await fn(store, clock)
    } finally {
      await store.close()
    }
  }

  /** An entry living a minute from now, whose body and meta name `label`. */
  function tagged(clock: FakeClock, tags: readonly string[] | undefined, label = 'x'): StoredEntry {
    return { meta: { label }, body: Buffer.from(`body ${label}`), expiresAt: clock.now() + MINUTE_MS, tags }
  }

  async function keysOf(store: CacheStore, tag: string): Promise<string[]> {
    return (await store.keysForTag(tag)).sort()
  }

  /** Keys, out of `keys`, that `get` still finds. */
  async function present(store: CacheStore, keys: readonly string[]): Promise<string[]> {
    const found: string[] = []
    for (const key of keys) if ((await store.get(key)) !== undefined) found.push(key)
    return found
  }

  function tagStats(store: CacheStore): { tags: number; taggedKeys: number } {
    const { tags, taggedKeys } = store.stats()
    return { tags, taggedKeys }
  }

  describe(`${name}: tag index`, () => {
    test('keysForTag lists the keys whose entries carry the tag', () =>
      withStore(async (store, clock) => {
        await store.set('a', tagged(clock, ['red', 'round']))
        await store.set('b', tagged(clock, ['red']))
        await store.set('c', tagged(clock, ['blue']))
        await store.set('d', tagged(clock, undefined))
        assert.deepEqual(await keysOf(store, 'red'), ['a', 'b'])
        assert.deepEqual(await keysOf(store, 'round'), ['a'])
        assert.deepEqual(await keysOf(store, 'blue'), ['c'])
        assert.deepEqual(await keysOf(store, 'green'), [])
        assert.deepEqual(tagStats(store), { tags: 3, taggedKeys: 4 })
      }))

    test('get returns the tags as stored, and no tags for an untagged entry', () =>
      withStore(async (store, clock) => {
        await store.set('a', tagged(clock, ['product:42', 'home', 'ünïcødé tag']))
        await store.set('b', tagged(clock, undefined))
        assert.deepEqual((await store.get('a'))?.tags, ['product:42', 'home', 'ünïcødé tag'])
        assert.equal((await store.get('b'))?.tags?.length ?? 0, 0)
        assert.equal((await store.get('b'))?.invalidatedAt, undefined)
      }))

    test('a tag repeated within an entry counts once', () =>
      withStore(async (store, clock) => {
        await store.set('a', tagged(clock, ['red', 'red', 'blue', 'red']))
        assert.deepEqual(await keysOf(store, 'red'), ['a'])
        assert.deepEqual(tagStats(store), { tags: 2, taggedKeys: 2 })
      }))

    test('a replacing set replaces the tags: the old ones no longer list the key', () =>
      withStore(async (store, clock) => {
        await store.set('a', tagged(clock, ['old', 'kept']))
        await store.set('b', tagged(clock, ['kept']))
        await store.set('a', tagged(clock, ['kept', 'new']))
        assert.deepEqual(await keysOf(store, 'old'), [])
        assert.deepEqual(await keysOf(store, 'new'), ['a'])
        assert.deepEqual(await keysOf(store, 'kept'), ['a', 'b'])
        assert.deepEqual(tagStats(store), { tags: 2, taggedKeys: 3 })

        await store.set('a', tagged(clock, undefined))
        assert.deepEqual(await keysOf(store, 'new'), [])
        assert.deepEqual(await keysOf(store, 'kept'), ['b'])
        assert.deepEqual(tagStats(store), { tags: 1, taggedKeys: 1 })
      }))

    test('delete removes the key from its tags and drops tags left empty', () =>
      withStore(async (store, clock) => {
        await store.set('a', tagged(clock, ['red', 'round']))
        await store.set('b', tagged(clock, ['red']))
        await store.delete('a')
        assert.deepEqual(await keysOf(store, 'red'), ['b'])
        assert.deepEqual(await keysOf(store, 'round'), [])
        assert.deepEqual(tagStats(store), { tags: 1, taggedKeys: 1 })
        await store.delete('b')
        assert.deepEqual(tagStats(store), { tags: 0, taggedKeys: 0 })
      }))

    test('a refused set removes the replaced entry from its tags', () =>
      withStore(async (store, clock) => {
        await store.set('a', tagged(clock, ['red']))
        const expired: StoredEntry = { ...tagged(clock, ['blue']), expiresAt: clock.now() }
        assert.equal(await store.set('a', expired), false)
        assert.deepEqual(await keysOf(store, 'red'), [])
        assert.deepEqual(await keysOf(store, 'blue'), [])
        assert.deepEqual(tagStats(store), { tags: 0, taggedKeys: 0 })
      }))

    test('clear empties the index', () =>
      withStore(async (store, clock) => {
        for (const key of ['a', 'b', 'c']) await store.set(key, tagged(clock, ['red', key]))
        await store.clear()
        assert.deepEqual(await keysOf(store, 'red'), [])
        assert.deepEqual(tagStats(store), { tags: 0, taggedKeys: 0 })
      }))

    // When an expired entry leaves the counts is the store's own business: the memory
    // store's tests cover its lazy and swept expiry.
    test('an expired entry is no longer listed', () =>
      withStore(async (store, clock) => {
        await store.set('short', { ...tagged(clock, ['red', 'brief']), expiresAt: clock.now() + 1_000 })
        await store.set('long', tagged(clock, ['red']))
        clock.advance(1_000)
        assert.deepEqual(await keysOf(store, 'red'), ['long'])
        assert.deepEqual(await keysOf(store, 'brief'), [])
      }))
  })

  describe(`${name}: purge`, () => {
    /** a, b: product:1; b, c: product:2; d: untagged. Keys are URL-like for prefixes. */
    async function fill(store: CacheStore, clock: FakeClock): Promise<void> {
      await store.set('GET shop/p/1', tagged(clock, ['product:1'], 'a'))
      await store.set('GET shop/p/1/2', tagged(clock, ['product:1', 'product:2'], 'b'))
      await store.set('GET shop/p/2', tagged(clock, ['product:2'], 'c'))
      await store.set('GET shop/home', tagged(clock, undefined, 'd'))
    }
    const ALL_KEYS = ['GET shop/p/1', 'GET shop/p/1/2', 'GET shop/p/2', 'GET shop/home']

    test('a hard purge by tag removes exactly the tagged entries and counts them', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        assert.equal(await store.purge({ tags: ['product:1'] }, { soft: false }), 2)
        assert.deepEqual(await present(store, ALL_KEYS), ['GET shop/p/2', 'GET shop/home'])
        assert.deepEqual(await keysOf(store, 'product:1'), [])
        assert.deepEqual(await keysOf(store, 'product:2'), ['GET shop/p/2'])
        assert.deepEqual(tagStats(store), { tags: 1, taggedKeys: 1 })
        assert.equal(store.stats().entries, 2)
      }))

    test('several tags reach the union, an entry reached twice counting once', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        assert.equal(await store.purge({ tags: ['product:1', 'product:2', 'nothing'] }, { soft: false }), 3)
        assert.deepEqual(await present(store, ALL_KEYS), ['GET shop/home'])
      }))

    test('a purge of an unknown tag, or an empty selector, reaches nothing', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        assert.equal(await store.purge({ tags: ['nothing'] }, { soft: false }), 0)
        assert.equal(await store.purge({}, { soft: false }), 0)
        assert.equal(await store.purge({ tags: [], prefixes: [], all: false }, { soft: true }), 0)
        assert.deepEqual(await present(store, ALL_KEYS), ALL_KEYS)
      }))

    test('a prefix purge removes the keys starting with it, as plain strings', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        await store.set('GET shop/p.*', tagged(clock, undefined))
        assert.equal(await store.purge({ prefixes: ['GET shop/p/1'] }, { soft: false }), 2)
        assert.deepEqual(await present(store, ALL_KEYS), ['GET shop/p/2', 'GET shop/home'])
        assert.equal(await store.purge({ prefixes: ['GET shop/p.'] }, { soft: false }), 1, 'no pattern')
        assert.ok(await store.get('GET shop/p/2'))
        assert.deepEqual(await keysOf(store, 'product:1'), [], 'purged keys leave the index')
      }))

    test('tags and prefixes together reach the union', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        const selector = { tags: ['product:2'], prefixes: ['GET shop/p/1', 'GET shop/h'] }
        assert.equal(await store.purge(selector, { soft: false }), 4)
        assert.deepEqual(await present(store, ALL_KEYS), [])
      }))

    test('all removes everything and counts it', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        assert.equal(await store.purge({ all: true }, { soft: false }), 4)
        assert.deepEqual(await present(store, ALL_KEYS), [])
        assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
      }))

    test('expired entries are not counted', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        await store.set('GET shop/p/3', { ...tagged(clock, ['product:1']), expiresAt: clock.now() + 1_000 })
        clock.advance(1_000)
        assert.equal(await store.purge({ tags: ['product:1'] }, { soft: true }), 2)
        assert.equal(await store.purge({ prefixes: ['GET shop/p/'] }, { soft: false }), 3)
        assert.equal(await store.purge({ all: true }, { soft: false }), 1)
      }))

    test('a soft purge marks the entries invalidated now and changes nothing else', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        const before = await store.get('GET shop/p/1/2')
        assert.ok(before)
        clock.advance(5_000)
        assert.equal(await store.purge({ tags: ['product:2'] }, { soft: true }), 2)
        const after = await store.get('GET shop/p/1/2')
        assert.ok(after, 'a soft purge keeps the entry')
        assert.equal(after.invalidatedAt, clock.now())
        assert.deepEqual(after.meta, before.meta)
        assert.ok(after.body.equals(before.body))
        assert.equal(after.expiresAt, before.expiresAt)
        assert.deepEqual(after.tags, before.tags)
        assert.equal((await store.get('GET shop/p/2'))?.invalidatedAt, clock.now())
        assert.equal((await store.get('GET shop/p/1'))?.invalidatedAt, undefined, 'not reached')
        assert.deepEqual(await keysOf(store, 'product:2'), ['GET shop/p/1/2', 'GET shop/p/2'])
        assert.equal(store.stats().entries, 4)
      }))

    test('a second soft purge keeps the earliest invalidatedAt, and still counts the entry', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        const first = clock.now()
        await store.purge({ tags: ['product:1'] }, { soft: true })
        clock.advance(1_000)
        assert.equal(await store.purge({ tags: ['product:2'] }, { soft: true }), 2)
        assert.equal((await store.get('GET shop/p/1/2'))?.invalidatedAt, first)
        assert.equal((await store.get('GET shop/p/2'))?.invalidatedAt, first + 1_000)
      }))

    test('a soft purge keeps an earlier invalidatedAt the entry was stored with', () =>
      withStore(async (store, clock) => {
        const earlier = clock.now() - 10_000
        await store.set('k', { ...tagged(clock, ['t']), invalidatedAt: earlier })
        assert.equal((await store.get('k'))?.invalidatedAt, earlier, 'get returns it as stored')
        assert.equal(await store.purge({ tags: ['t'] }, { soft: true }), 1)
        assert.equal((await store.get('k'))?.invalidatedAt, earlier)
      }))

    test('soft all marks every entry; a hard purge still removes a soft-purged one', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        assert.equal(await store.purge({ all: true }, { soft: true }), 4)
        for (const key of ALL_KEYS) assert.equal((await store.get(key))?.invalidatedAt, clock.now(), key)
        assert.equal(await store.purge({ tags: ['product:1'] }, { soft: false }), 2)
        assert.deepEqual(await present(store, ALL_KEYS), ['GET shop/p/2', 'GET shop/home'])
      }))

    test('a set after a soft purge stores the new entry without invalidatedAt', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        await store.purge({ tags: ['product:1'] }, { soft: true })
        clock.advance(1)
        await store.set('GET shop/p/1', tagged(clock, ['product:1'], 'fresh'))
        const got = await store.get('GET shop/p/1')
        assert.deepEqual(got?.meta, { label: 'fresh' })
        assert.equal(got?.invalidatedAt, undefined)
      }))

    test('a dry run counts, hard or soft, and changes nothing', () =>
      withStore(async (store, clock) => {
        await fill(store, clock)
        const statsBefore = store.stats()
        assert.equal(
          await store.purge({ tags: ['product:1'], prefixes: ['GET shop/h'] }, { soft: false, dryRun: true }),
          3,
        )
        assert.equal(await store.purge({ all: true }, { soft: false, dryRun: true }), 4)
        assert.equal(await store.purge({ all: true }, { soft: true, dryRun: true }), 4)
        assert.deepEqual(store.stats(), statsBefore)
        for (const key of ALL_KEYS) assert.equal((await store.get(key))?.invalidatedAt, undefined, key)
        assert.deepEqual(await keysOf(store, 'product:1'), ['GET shop/p/1', 'GET shop/p/1/2'])
      }))
  })

  describe(`${name}: purge race`, () => {
    /** An entry fetched at `fetchedAt`, stored now. */
    function fetched(
      clock: FakeClock,
      fetchedAt: number,
      tags: readonly string[] = ['product:1'],
    ): StoredEntry {
      return { ...tagged(clock, tags, 'late'), fetchedAt }
    }

    test('a hard purge after the fetch makes the set refuse, and removes what was there', () =>
      withStore(async (store, clock) => {
        await store.set('k', tagged(clock, ['product:1'], 'old'))
        const fetchedAt = clock.now()
        clock.advance(100)
        await store.purge({ tags: ['product:1'] }, { soft: false })
        await store.set('k', tagged(clock, ['product:1'], 'stored meanwhile'))
        clock.advance(100)
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), false)
        assert.equal(await store.get('k'), undefined)
        assert.deepEqual(await keysOf(store, 'product:1'), [])
      }))

    test('a purge in the same millisecond as the fetch wins', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        await store.purge({ tags: ['product:1'] }, { soft: false })
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), false)
      }))

    test('a purge before the fetch does not touch the entry', () =>
      withStore(async (store, clock) => {
        await store.purge({ tags: ['product:1'] }, { soft: false })
        await store.purge({ all: true }, { soft: true })
        clock.advance(1)
        assert.equal(await store.set('k', fetched(clock, clock.now())), true)
        const got = await store.get('k')
        assert.deepEqual(got?.meta, { label: 'late' })
        assert.equal(got?.invalidatedAt, undefined)
      }))

    test('a purge that does not reach the entry does not touch it', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(10)
        await store.purge({ tags: ['product:2'], prefixes: ['other/'] }, { soft: false })
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), true)
        assert.equal((await store.get('k'))?.invalidatedAt, undefined)
      }))

    test('a prefix purge and an all purge win over a set fetched before them', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(10)
        await store.purge({ prefixes: ['GET shop/p/'] }, { soft: false })
        assert.equal(await store.set('GET shop/p/9', fetched(clock, fetchedAt, [])), false)
        assert.equal(await store.set('GET shop/home', fetched(clock, fetchedAt, [])), true)
        const later = clock.now()
        clock.advance(10)
        await store.purge({ all: true }, { soft: false })
        assert.equal(await store.set('GET shop/home', fetched(clock, later, [])), false)
      }))

    test('a soft purge after the fetch stores the entry invalidated at the purge time', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(100)
        const purgedAt = clock.now()
        await store.purge({ tags: ['product:1'] }, { soft: true })
        clock.advance(100)
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), true)
        const got = await store.get('k')
        assert.deepEqual(got?.meta, { label: 'late' })
        assert.equal(got?.invalidatedAt, purgedAt)
      }))

    test('of several soft purges after the fetch, the earliest sets invalidatedAt', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(100)
        const first = clock.now()
        await store.purge({ prefixes: ['k'] }, { soft: true })
        clock.advance(100)
        await store.purge({ tags: ['product:1'] }, { soft: true })
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), true)
        assert.equal((await store.get('k'))?.invalidatedAt, first)
      }))

    test("an entry's own earlier invalidatedAt wins over a soft purge", () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(100)
        await store.purge({ tags: ['product:1'] }, { soft: true })
        const own = fetchedAt - 1_000
        assert.equal(await store.set('k', { ...fetched(clock, fetchedAt), invalidatedAt: own }), true)
        assert.equal((await store.get('k'))?.invalidatedAt, own)
      }))

    test('a hard purge wins over a soft one, in either order', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(10)
        await store.purge({ tags: ['product:1'] }, { soft: true })
        clock.advance(10)
        await store.purge({ tags: ['product:1'] }, { soft: false })
        clock.advance(10)
        await store.purge({ tags: ['product:1'] }, { soft: true })
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), false)
      }))

    test('a set without fetchedAt is not checked', () =>
      withStore(async (store, clock) => {
        clock.advance(10)
        await store.purge({ all: true }, { soft: false })
        assert.equal(await store.set('k', tagged(clock, ['product:1'])), true)
        assert.equal((await store.get('k'))?.invalidatedAt, undefined)
      }))

    test('a dry run is not remembered', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(10)
        await store.purge({ tags: ['product:1'] }, { soft: false, dryRun: true })
        await store.purge({ all: true }, { soft: true, dryRun: true })
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), true)
        assert.equal((await store.get('k'))?.invalidatedAt, undefined)
      }))

    test('clear is not remembered as a purge', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(10)
        await store.clear()
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), true)
      }))

    test('a purge that reached no stored entry still wins over a set in flight', () =>
      withStore(async (store, clock) => {
        const fetchedAt = clock.now()
        clock.advance(10)
        assert.equal(await store.purge({ tags: ['product:1'] }, { soft: false }), 0)
        assert.equal(await store.set('k', fetched(clock, fetchedAt)), false)
      }))
  })
}
