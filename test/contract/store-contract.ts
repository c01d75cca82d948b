/**
 * The one suite every CacheStore passes: memory, Redis and tiered each call
 * `describeStoreContract` and then add their own cases. It checks only what
 * `src/storage/store.ts` promises, through the public methods and a fake clock.
 *
 * Two points the contract pins down that store.ts leaves open:
 * - expiry is half-open: an entry is returned while `now < expiresAt` and gone from the
 *   moment `now >= expiresAt`; so a set with `expiresAt <= now` is refused;
 * - a refused set still removes whatever was under the key, so a store never keeps
 *   serving an entry the caller meant to replace.
 *
 * Tags, purges and the purge race (cases in ./purge-contract.ts); store.ts gives the
 * shapes, these are the rules, the same for every store:
 * - Tag index. `keysForTag(tag)` lists, once each and in no set order, the keys of the
 *   live entries that carry `tag`; a tag repeated within one entry counts once. A `set`
 *   replaces the key's tags with the new entry's. An entry leaves the index however it
 *   leaves the store: delete, replacement, refused set, expiry, eviction, clear, hard
 *   purge. A tag left with no keys is dropped, so `stats().tags` (distinct tags) and
 *   `stats().taggedKeys` (sum over tags of their keys) follow the entries held (the local
 *   store's `tags` lags behind a hard purge until its sweep: docs/architecture.md). A store
 *   may go on counting an expired entry until it actually removes it, but never lists it.
 * - `get` returns `tags` and `invalidatedAt` as stored; an entry stored without tags
 *   comes back with `tags` undefined or empty.
 * - `purge(selector, { soft, dryRun })` reaches the union of: the entries carrying any of
 *   `tags`, the keys starting with any of `prefixes` (plain string prefixes), and every
 *   entry when `all`. An empty selector reaches nothing. It resolves with how many live
 *   entries it reached, each counted once however many ways it was reached.
 *   - hard (`soft: false`) removes them;
 *   - soft sets `invalidatedAt` to the store's now on each reached entry, unless it has an
 *     `invalidatedAt` at or before now already (the earliest stays). Nothing else changes:
 *     body, meta, tags and expiresAt stay; a store may or may not refresh recency;
 *   - `dryRun` counts and changes nothing, and is not remembered (see below).
 * - The purge race. A store remembers its purges (hard and soft, not dry runs) with the
 *   time it carried them out, by its clock. A `set` whose entry has `fetchedAt` is checked
 *   against every remembered purge carried out at or after `fetchedAt` that reaches the
 *   entry by its key or tags (or `all`):
 *   - a hard one makes the `set` refuse the entry: it resolves false and, like any refused
 *     set, removes what was under the key;
 *   - otherwise a soft one stores the entry with `invalidatedAt` at that purge's time (the
 *     earliest such purge, or the entry's own `invalidatedAt` if earlier).
 *   A set without `fetchedAt` is not checked. `clear` is not a purge and is not
 *   remembered; `purge({ all: true })` is how to invalidate everything.
 * - Forgetting. A store remembers purges for a bounded time and number (the memory store:
 *   `purgeLogWindowMs`, `purgeLogMaxRecords`). An entry fetched at or before a purge the
 *   store has forgotten is refused, whatever that purge reached: a needless miss is cheap,
 *   serving purged content is not. An entry fetched after every forgotten purge is checked
 *   exactly, however old its `fetchedAt`. These suites only use purges a minute old or
 *   less; the memory store's own tests cover forgetting.
 *
 * Not checked: whether a store copies the body Buffer or keeps the caller's reference
 * (the memory store keeps it), so callers must not mutate a Buffer after `set`.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { CacheStore, EntryMeta, StoredEntry } from '../../src/storage/store.ts'
import { createFakeClock, type FakeClock } from '../support/clock.ts'
import { describePurgeContract } from './purge-contract.ts'

/** Builds the store under test; it must take its time from `clock`. */
export type MakeStore = (clock: FakeClock) => Promise<CacheStore> | CacheStore

const MINUTE_MS = 60_000

/** Every byte value once, in order. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i))

/** Metadata shaped like what the engine keeps: nested objects, arrays, numbers, strings. */
const RICH_META: EntryMeta = {
  status: 200,
  statusText: 'OK',
  headers: {
    'content-type': 'application/octet-stream',
    'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
    vary: 'accept-encoding',
  },
  storedAt: Date.UTC(2026, 0, 1),
  ratio: 0.25,
  negative: -42,
  tags: ['product:1', 'ünïcødé', ''],
  nested: { deeper: { list: [1, 'two', { three: 3 }, [4, [5]]], empty: {}, none: [] } },
  flag: true,
  missing: null,
}

/**
 * Registers the store contract as a node:test `describe` suite named `name`. Each test
 * builds its own store from `makeStore` with a fresh fake clock and closes it afterwards.
 *
 * @example
 * describeStoreContract('memory store', (clock) => createMemoryStore({ clock }))
 */
export function describeStoreContract(name: string, makeStore: MakeStore): void {
  /** Runs `fn` against a new store and closes the store whatever happens. */
  async function withStore(fn: (store: CacheStore, clock: FakeClock) => Promise<void>): Promise<void> {
    const clock = createFakeClock()
    const store = await makeStore(clock)
    try {
      await fn(store, clock)
    } finally {
      await store.close()
    }
  }

  function entryAt(clock: FakeClock, body: Buffer, meta: EntryMeta = { status: 200 }): StoredEntry {
    return { meta, body, expiresAt: clock.now() + MINUTE_MS }
  }

  describe(`${name}: CacheStore contract`, () => {
    test('get of a missing key resolves undefined', () =>
      withStore(async (store) => {
        assert.equal(await store.get('missing'), undefined)
      }))

    test('set then get returns equal meta, identical body bytes and the same expiresAt', () =>
      withStore(async (store, clock) => {
        const entry: StoredEntry = { meta: RICH_META, body: ALL_BYTES, expiresAt: clock.now() + MINUTE_MS }
        assert.equal(await store.set('k', entry), true)
        const got = await store.get('k')
        assert.ok(got, 'entry should be there')
        assert.deepEqual(got.meta, RICH_META)
        assertSameBytes(got.body, ALL_BYTES)
        assert.equal(got.expiresAt, entry.expiresAt)
      }))

    test('stores an empty body', () =>
      withStore(async (store, clock) => {
        assert.equal(await store.set('empty', entryAt(clock, Buffer.alloc(0))), true)
        const got = await store.get('empty')
        assert.ok(got, 'entry should be there')
        assertSameBytes(got.body, Buffer.alloc(0))
      }))

    test('stores empty metadata', () =>
      withStore(async (store, clock) => {
        assert.equal(await store.set('k', entryAt(clock, Buffer.from('x'), {})), true)
        assert.deepEqual((await store.get('k'))?.meta, {})
      }))

    test('get returns the same entry every time', () =>
      withStore(async (store, clock) => {
        await store.set('k', entryAt(clock, ALL_BYTES, RICH_META))
        for (let i = 0; i < 3; i++) {
          const got = await store.get('k')
          assert.ok(got, `read ${i} should hit`)
          assertSameBytes(got.body, ALL_BYTES)
          assert.deepEqual(got.meta, RICH_META)
        }
      }))

    test('a second set under the same key replaces the entry', () =>
      withStore(async (store, clock) => {
        await store.set('k', entryAt(clock, Buffer.from('first'), { version: 1 }))
        const second: StoredEntry = {
          meta: { version: 2, extra: ['x'] },
          body: Buffer.from('second, longer body'),
          expiresAt: clock.now() + 2 * MINUTE_MS,
        }
        assert.equal(await store.set('k', second), true)
        const got = await store.get('k')
        assert.ok(got, 'entry should be there')
        assert.deepEqual(got.meta, { version: 2, extra: ['x'] })
        assertSameBytes(got.body, Buffer.from('second, longer body'))
        assert.equal(got.expiresAt, second.expiresAt)
        assert.equal(store.stats().entries, 1)
      }))

    test('keeps entries under different keys apart', () =>
      withStore(async (store, clock) => {
        for (let i = 0; i < 50; i++) {
          await store.set(`key-${i}`, entryAt(clock, Buffer.from(`body ${i}`), { i }))
        }
        for (let i = 0; i < 50; i++) {
          const got = await store.get(`key-${i}`)
          assert.ok(got, `key-${i} should be there`)
          assert.deepEqual(got.meta, { i })
          assertSameBytes(got.body, Buffer.from(`body ${i}`))
        }
        assert.equal(store.stats().entries, 50)
      }))

    test('delete resolves true when an entry was there and false otherwise', () =>
      withStore(async (store, clock) => {
        await store.set('k', entryAt(clock, Buffer.from('body')))
        await store.set('other', entryAt(clock, Buffer.from('other')))
        assert.equal(await store.delete('k'), true)
        assert.equal(await store.get('k'), undefined)
        assert.equal(await store.delete('k'), false)
        assert.equal(await store.delete('never-set'), false)
        assert.ok(await store.get('other'), 'other keys stay')
      }))

    test('clear removes everything', () =>
      withStore(async (store, clock) => {
        for (const key of ['a', 'b', 'c']) await store.set(key, entryAt(clock, Buffer.from(key)))
        await store.clear()
        for (const key of ['a', 'b', 'c']) assert.equal(await store.get(key), undefined)
        assertEmpty(store)
        assert.equal(await store.set('a', entryAt(clock, Buffer.from('again'))), true, 'usable after clear')
        assert.ok(await store.get('a'))
      }))

    test('clear on an empty store resolves', () =>
      withStore(async (store) => {
        await store.clear()
        assertEmpty(store)
      }))

    test('keeps an entry until the clock reaches expiresAt, then it is gone', () =>
      withStore(async (store, clock) => {
        const expiresAt = clock.now() + MINUTE_MS
        await store.set('k', { meta: {}, body: Buffer.from('body'), expiresAt })
        clock.set(expiresAt - 1)
        assert.ok(await store.get('k'), 'still there 1 ms before expiresAt')
        clock.set(expiresAt)
        assert.equal(await store.get('k'), undefined, 'gone at expiresAt')
        clock.advance(MINUTE_MS)
        assert.equal(await store.get('k'), undefined, 'and stays gone')
      }))

    test('an entry is gone once the clock has passed expiresAt, without a get in between', () =>
      withStore(async (store, clock) => {
        await store.set('k', entryAt(clock, Buffer.from('body')))
        clock.advance(10 * MINUTE_MS)
        assert.equal(await store.get('k'), undefined)
      }))

    test('each entry expires at its own time', () =>
      withStore(async (store, clock) => {
        const start = clock.now()
        await store.set('short', { meta: {}, body: Buffer.from('s'), expiresAt: start + 1_000 })
        await store.set('long', { meta: {}, body: Buffer.from('l'), expiresAt: start + MINUTE_MS })
        clock.advance(1_000)
        assert.equal(await store.get('short'), undefined)
        assert.ok(await store.get('long'))
      }))

    test('a replacing set brings its own expiresAt', () =>
      withStore(async (store, clock) => {
        const start = clock.now()
        await store.set('k', { meta: { v: 1 }, body: Buffer.from('1'), expiresAt: start + 1_000 })
        await store.set('k', { meta: { v: 2 }, body: Buffer.from('2'), expiresAt: start + MINUTE_MS })
        clock.advance(5_000)
        assert.deepEqual((await store.get('k'))?.meta, { v: 2 })
      }))

    test('refuses an entry that has already expired: set resolves false', () =>
      withStore(async (store, clock) => {
        const past: StoredEntry = { meta: {}, body: Buffer.from('old'), expiresAt: clock.now() - 1 }
        assert.equal(await store.set('past', past), false)
        const now: StoredEntry = { meta: {}, body: Buffer.from('now'), expiresAt: clock.now() }
        assert.equal(await store.set('now', now), false, 'expiresAt == now is already expired')
        assert.equal(await store.get('past'), undefined)
        assert.equal(await store.get('now'), undefined)
        assert.equal(store.stats().entries, 0)
      }))

    test('a refused set removes the entry it was meant to replace', () =>
      withStore(async (store, clock) => {
        await store.set('k', entryAt(clock, Buffer.from('current')))
        const expired: StoredEntry = { meta: {}, body: Buffer.from('newer'), expiresAt: clock.now() - 1 }
        assert.equal(await store.set('k', expired), false)
        assert.equal(await store.get('k'), undefined)
        assert.equal(store.stats().entries, 0)
      }))

    test('stats count entries and bytes, up on set and down on delete', () =>
      withStore(async (store, clock) => {
        assertEmpty(store)

        await store.set('a', entryAt(clock, Buffer.alloc(1_000)))
        const afterA = store.stats()
        assert.equal(afterA.entries, 1)
        assert.ok(afterA.bytes >= 1_000, `bytes ${afterA.bytes} should count the 1000-byte body`)

        await store.set('b', entryAt(clock, Buffer.alloc(2_000)))
        const afterB = store.stats()
        assert.equal(afterB.entries, 2)
        assert.ok(afterB.bytes >= afterA.bytes + 2_000, 'bytes grow by at least the new body')

        await store.set('a', entryAt(clock, Buffer.alloc(5_000)))
        const grown = store.stats()
        assert.equal(grown.entries, 2, 'a replace does not add an entry')
        assert.ok(grown.bytes >= afterB.bytes + 4_000, 'a bigger replacement grows bytes')

        await store.delete('a')
        const afterDelete = store.stats()
        assert.equal(afterDelete.entries, 1)
        assert.ok(afterDelete.bytes <= grown.bytes - 5_000, 'bytes shrink by at least the body')

        await store.delete('b')
        assertEmpty(store)
      }))

    test('keys with unusual characters are stored and kept apart', () =>
      withStore(async (store, clock) => {
        const keys = [
          '',
          ' ',
          'with space',
          'with space ',
          'WITH SPACE',
          'line\nbreak',
          'tab\there',
          'carriage\r\nreturn',
          'nul\u0000byte',
          'ключ/日本語/🙂',
          'e\u0301', // e + combining accent: not the same string as é
          'é',
          '*',
          'a?b',
          '[x]',
          'GET https://example.com/path?q=1&r=2#frag',
          'quote"and\\backslash',
          'x'.repeat(10_000),
        ]
        for (const [i, key] of keys.entries()) {
          assert.equal(
            await store.set(key, entryAt(clock, Buffer.from(`body ${i}`), { i })),
            true,
            `set ${i}`,
          )
        }
        assert.equal(store.stats().entries, keys.length)
        for (const [i, key] of keys.entries()) {
          const got = await store.get(key)
          assert.ok(got, `key ${i} should be there`)
          assert.deepEqual(got.meta, { i })
          assertSameBytes(got.body, Buffer.from(`body ${i}`))
        }
        assert.equal(await store.delete('*'), true)
        assert.equal(await store.get('*'), undefined)
        assert.ok(await store.get('a?b'), 'deleting "*" deletes only that key')
        assert.equal(store.stats().entries, keys.length - 1)
      }))

    test('close resolves', () =>
      withStore(async (store, clock) => {
        await store.set('k', entryAt(clock, Buffer.from('body')))
        // withStore closes it again afterwards; a second close must resolve as well.
        assert.equal(await store.close(), undefined)
      }))
  })

  describePurgeContract(name, makeStore)
}

function assertEmpty(store: CacheStore): void {
  assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
}

function assertSameBytes(actual: Buffer, expected: Buffer): void {
  assert.ok(Buffer.isBuffer(actual), 'body should be a Buffer')
  assert.equal(actual.length, expected.length, 'body length')
  assert.ok(actual.equals(expected), 'body bytes should be identical')
}
