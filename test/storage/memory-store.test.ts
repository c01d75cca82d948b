/**
 * The memory store: the shared store contract, then what only it promises: a byte bound
 * kept by LRU eviction, the object-size limit, option checks, the eviction hook, the
 * expiry sweep, the synchronous `peek`, a tag index that eviction and the sweep keep
 * bounded, and a purge log that forgets.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { hasCode } from '../../src/errors.ts'
import {
  createMemoryStore,
  type EvictReason,
  type MemoryStore,
  type MemoryStoreOptions,
} from '../../src/storage/memory-store.ts'
import type { StoredEntry } from '../../src/storage/store.ts'
import { describeStoreContract } from '../contract/store-contract.ts'
import { createFakeClock, type FakeClock } from '../support/clock.ts'

const KiB = 1024
const MiB = 1024 * KiB
const HOUR_MS = 3_600_000

describeStoreContract('memory store', (clock) => createMemoryStore({ clock }))

/** An entry with a `bodyBytes`-byte body that lives an hour on `clock`. */
function entryOf(clock: FakeClock, bodyBytes: number): StoredEntry {
  return { meta: { status: 200 }, body: Buffer.alloc(bodyBytes, 0x61), expiresAt: clock.now() + HOUR_MS }
}

/** Bytes the store counts for one entry made by `entryOf` under a two-character key. */
function sizeOfOneEntry(bodyBytes: number): number {
  const clock = createFakeClock()
  const probe = createMemoryStore({ clock, sweepIntervalMs: 0 })
  // The memory store's set does its work before it first yields, so no await is needed.
  void probe.set('k0', entryOf(clock, bodyBytes))
  return probe.stats().bytes
}

/** Records every onEvict call as `key:reason`. */
function recordEvictions(): { seen: string[]; onEvict: (key: string, reason: EvictReason) => void } {
  const seen: string[] = []
  return { seen, onEvict: (key, reason) => seen.push(`${key}:${reason}`) }
}

describe('memory store: LRU eviction by bytes', () => {
  const BODY = 1_000
  const ENTRY = sizeOfOneEntry(BODY)

  function threeEntryStore(options: MemoryStoreOptions = {}): { store: MemoryStore; clock: FakeClock } {
    const clock = createFakeClock()
    // Room for three entries and a half: the fourth must push one out.
    const store = createMemoryStore({
      clock,
      maxBytes: Math.floor(ENTRY * 3.5),
      sweepIntervalMs: 0,
      ...options,
    })
    return { store, clock }
  }

  test('counts each entry as its body plus key, metadata and overhead', () => {
    assert.ok(ENTRY > BODY, `an entry (${ENTRY}) counts more than its body (${BODY})`)
    assert.ok(ENTRY < BODY + 1_000, `but not wildly more (${ENTRY})`)
  })

  test('evicts the least recently used entry when the bytes run out', async () => {
    const { store, clock } = threeEntryStore()
    for (const key of ['k1', 'k2', 'k3']) assert.equal(await store.set(key, entryOf(clock, BODY)), true)
    assert.equal(store.stats().entries, 3)

    assert.equal(await store.set('k4', entryOf(clock, BODY)), true)
    assert.equal(await store.get('k1'), undefined, 'the oldest went first')
    for (const key of ['k2', 'k3', 'k4']) assert.ok(await store.get(key), `${key} stays`)
    assert.deepEqual(store.stats(), { entries: 3, bytes: 3 * ENTRY, tags: 0, taggedKeys: 0 })
  })

  test('a get refreshes recency', async () => {
    const { store, clock } = threeEntryStore()
    for (const key of ['k1', 'k2', 'k3']) await store.set(key, entryOf(clock, BODY))
    assert.ok(await store.get('k1'))

    await store.set('k4', entryOf(clock, BODY))
    assert.ok(await store.get('k1'), 'k1 was read, so it stays')
    assert.equal(await store.get('k2'), undefined, 'k2 is now the least recently used')
  })

  test('a peek refreshes recency like a get', async () => {
    const { store, clock } = threeEntryStore()
    for (const key of ['k1', 'k2', 'k3']) await store.set(key, entryOf(clock, BODY))
    assert.ok(store.peek('k1'))

    await store.set('k4', entryOf(clock, BODY))
    assert.ok(store.peek('k1'))
    assert.equal(store.peek('k2'), undefined)
  })

  test('a set of an existing key refreshes recency', async () => {
    const { store, clock } = threeEntryStore()
    for (const key of ['k1', 'k2', 'k3']) await store.set(key, entryOf(clock, BODY))
    await store.set('k1', entryOf(clock, BODY))

    await store.set('k4', entryOf(clock, BODY))
    assert.ok(store.peek('k1'))
    assert.equal(store.peek('k2'), undefined)
  })

  test('a big entry pushes out as many entries as it needs', async () => {
    const { store, clock } = threeEntryStore()
    for (const key of ['k1', 'k2', 'k3']) await store.set(key, entryOf(clock, BODY))

    // About 2.3 entries' worth: two must go to make room, the third can stay.
    assert.equal(await store.set('k9', entryOf(clock, 2 * ENTRY)), true)
    assert.equal(store.peek('k1'), undefined)
    assert.equal(store.peek('k2'), undefined)
    assert.ok(store.peek('k3'))
    assert.ok(store.peek('k9'))
    assert.ok(store.stats().bytes <= Math.floor(ENTRY * 3.5))
  })

  test('stays within maxBytes: 100,000 entries of 1 KiB into a 10 MiB store', async () => {
    const clock = createFakeClock()
    const maxBytes = 10 * MiB
    const store = createMemoryStore({ clock, maxBytes, sweepIntervalMs: 0 })
    const body = Buffer.alloc(KiB, 0x62)
    const total = 100_000
    for (let i = 0; i < total; i++) {
      await store.set(`/items/${i}`, { meta: { status: 200, i }, body, expiresAt: clock.now() + HOUR_MS })
      if (i % 10_000 === 0) assert.ok(store.stats().bytes <= maxBytes, `within bounds after ${i + 1} sets`)
    }

    const { entries, bytes } = store.stats()
    assert.ok(bytes <= maxBytes, `bytes ${bytes} <= maxBytes ${maxBytes}`)
    // Entries differ by a few bytes (key and meta digits), so allow one entry's worth of slack.
    const perEntry = bytes / entries
    assert.ok(bytes > maxBytes - 2 * perEntry, `the store is full: ${bytes} of ${maxBytes}`)
    assert.ok(
      Math.abs(entries - maxBytes / perEntry) <= 1,
      `${entries} entries, about ${Math.floor(maxBytes / perEntry)} fit`,
    )
    assert.ok(entries > 5_000 && entries < 10_240, `${entries} entries of ~${Math.round(perEntry)} bytes`)
    assert.equal(store.peek('/items/0'), undefined, 'the first went long ago')
    assert.ok(store.peek(`/items/${total - 1}`), 'the last is there')
    assert.ok(store.peek(`/items/${total - entries}`), 'the oldest survivor is there')
    assert.equal(store.peek(`/items/${total - entries - 1}`), undefined, 'the one before it is not')
  })
})

describe('memory store: object-size limit', () => {
  test('refuses an entry larger than maxObjectBytes', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, maxObjectBytes: 4 * KiB, sweepIntervalMs: 0 })
    assert.equal(await store.set('big', entryOf(clock, 4 * KiB)), false, 'the count includes key and meta')
    assert.equal(await store.set('small', entryOf(clock, 2 * KiB)), true)
    assert.equal(store.peek('big'), undefined)
    assert.equal(store.stats().entries, 1)
  })

  test('a refused oversized set removes the entry it was meant to replace', async () => {
    const clock = createFakeClock()
    const { seen, onEvict } = recordEvictions()
    const store = createMemoryStore({ clock, maxObjectBytes: 4 * KiB, sweepIntervalMs: 0, onEvict })
    await store.set('k', entryOf(clock, KiB))
    assert.equal(await store.set('k', entryOf(clock, 8 * KiB)), false)
    assert.equal(store.peek('k'), undefined)
    assert.deepEqual(seen, ['k:replace'])
  })

  test('maxObjectBytes may equal maxBytes: one entry may fill the store', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, maxBytes: 8 * KiB, maxObjectBytes: 8 * KiB, sweepIntervalMs: 0 })
    await store.set('a', entryOf(clock, KiB))
    assert.equal(await store.set('b', entryOf(clock, 7 * KiB)), true)
    assert.equal(store.peek('a'), undefined, 'a was pushed out to make room')
    assert.ok(store.peek('b'))
  })

  test('defaults maxObjectBytes to the smaller of 8 MiB and maxBytes', async () => {
    const clock = createFakeClock()
    const small = createMemoryStore({ clock, maxBytes: 64 * KiB, sweepIntervalMs: 0 })
    assert.equal(await small.set('k', entryOf(clock, 32 * KiB)), true)

    const large = createMemoryStore({ clock, maxBytes: 64 * MiB, sweepIntervalMs: 0 })
    assert.equal(await large.set('fits', entryOf(clock, 8 * MiB - KiB)), true)
    assert.equal(await large.set('too-big', entryOf(clock, 8 * MiB)), false)
  })
})

describe('memory store: options', () => {
  const cases: [string, MemoryStoreOptions, string][] = [
    ['negative maxBytes', { maxBytes: -1 }, 'memory store: maxBytes must be a positive integer, got -1'],
    ['zero maxBytes', { maxBytes: 0 }, 'memory store: maxBytes must be a positive integer, got 0'],
    ['fractional maxBytes', { maxBytes: 1.5 }, 'memory store: maxBytes must be a positive integer, got 1.5'],
    ['NaN maxBytes', { maxBytes: Number.NaN }, 'memory store: maxBytes must be a positive integer, got NaN'],
    [
      'string maxBytes',
      { maxBytes: '64MiB' as unknown as number },
      'memory store: maxBytes must be a positive integer, got "64MiB"',
    ],
    [
      'zero maxObjectBytes',
      { maxObjectBytes: 0 },
      'memory store: maxObjectBytes must be a positive integer, got 0',
    ],
    [
      'maxObjectBytes above maxBytes',
      { maxBytes: 1_000, maxObjectBytes: 2_000 },
      'memory store: maxObjectBytes must be <= maxBytes (1000), got 2000',
    ],
    [
      'maxObjectBytes above the default maxBytes',
      { maxObjectBytes: 512 * MiB },
      `memory store: maxObjectBytes must be <= maxBytes (${256 * MiB}), got ${512 * MiB}`,
    ],
    [
      'clock without now',
      { clock: {} as unknown as FakeClock },
      'memory store: clock must have a now() method, got an object',
    ],
    [
      'negative sweepIntervalMs',
      { sweepIntervalMs: -1 },
      'memory store: sweepIntervalMs must be a non-negative integer, got -1',
    ],
    [
      'zero purgeLogWindowMs',
      { purgeLogWindowMs: 0 },
      'memory store: purgeLogWindowMs must be a positive integer, got 0',
    ],
    [
      'fractional purgeLogMaxRecords',
      { purgeLogMaxRecords: 2.5 },
      'memory store: purgeLogMaxRecords must be a positive integer, got 2.5',
    ],
    [
      'onEvict not a function',
      { onEvict: 'log' as unknown as MemoryStoreOptions['onEvict'] },
      'memory store: onEvict must be a function, got "log"',
    ],
  ]
  for (const [name, options, message] of cases) {
    test(`rejects ${name}, naming the field`, () => {
      assert.throws(
        () => createMemoryStore(options),
        (err: unknown) => {
          assert.ok(hasCode(err, 'EC_ERR_CONFIG_INVALID'), 'code EC_ERR_CONFIG_INVALID')
          assert.ok(err.message.endsWith(message), `message ${JSON.stringify(err.message)}`)
          return true
        },
      )
    })
  }

  test('builds with no options at all', async () => {
    const store = createMemoryStore()
    assert.equal(
      await store.set('k', { meta: {}, body: Buffer.from('x'), expiresAt: Date.now() + HOUR_MS }),
      true,
    )
    assert.ok(await store.get('k'))
    await store.close()
  })
})

describe('memory store: onEvict', () => {
  function storeWithHook(options: MemoryStoreOptions = {}) {
    const clock = createFakeClock()
    const recorded = recordEvictions()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0, onEvict: recorded.onEvict, ...options })
    return { store, clock, seen: recorded.seen }
  }

  test('reports a delete, and nothing for a delete of a missing key', async () => {
    const { store, clock, seen } = storeWithHook()
    await store.set('k', entryOf(clock, 10))
    await store.delete('k')
    await store.delete('k')
    assert.deepEqual(seen, ['k:delete'])
  })

  test('reports a replace when a set overwrites an entry', async () => {
    const { store, clock, seen } = storeWithHook()
    await store.set('k', entryOf(clock, 10))
    await store.set('k', entryOf(clock, 20))
    assert.deepEqual(seen, ['k:replace'])
  })

  test('reports a replace when a refused set removes the older entry', async () => {
    const { store, clock, seen } = storeWithHook()
    await store.set('k', entryOf(clock, 10))
    assert.equal(await store.set('k', { ...entryOf(clock, 10), expiresAt: clock.now() }), false)
    assert.deepEqual(seen, ['k:replace'])
  })

  test('reports an evict for each entry LRU pushes out', async () => {
    const entry = sizeOfOneEntry(100)
    const { store, clock, seen } = storeWithHook({ maxBytes: entry * 2 })
    for (const key of ['k1', 'k2', 'k3', 'k4']) await store.set(key, entryOf(clock, 100))
    assert.deepEqual(seen, ['k1:evict', 'k2:evict'])
  })

  test('reports an expire when a get finds the entry expired, at or after expiresAt', async () => {
    const { store, clock, seen } = storeWithHook()
    const start = clock.now()
    await store.set('at', { meta: {}, body: Buffer.from('a'), expiresAt: start + 1_000 })
    await store.set('after', { meta: {}, body: Buffer.from('b'), expiresAt: start + 1_000 })
    clock.set(start + 1_000)
    assert.equal(await store.get('at'), undefined)
    clock.advance(1)
    assert.equal(store.peek('after'), undefined)
    assert.deepEqual(seen, ['at:expire', 'after:expire'])
    assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
  })

  test('reports a delete for every entry on clear', async () => {
    const { store, clock, seen } = storeWithHook()
    for (const key of ['a', 'b', 'c']) await store.set(key, entryOf(clock, 10))
    await store.clear()
    assert.deepEqual(seen.sort(), ['a:delete', 'b:delete', 'c:delete'])
  })

  test('runs after the entry has left, so the hook may use the store', async () => {
    const clock = createFakeClock()
    const during: unknown[] = []
    const store: MemoryStore = createMemoryStore({
      clock,
      sweepIntervalMs: 0,
      onEvict: (key) => during.push(store.peek(key), store.stats().entries),
    })
    await store.set('k', entryOf(clock, 10))
    await store.set('other', entryOf(clock, 10))
    await store.delete('k')
    assert.deepEqual(during, [undefined, 1])
  })
})

describe('memory store: expiry sweep', () => {
  test('removes expired entries nobody reads, on the sweep interval', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] })
    const clock = createFakeClock()
    const { seen, onEvict } = recordEvictions()
    const store = createMemoryStore({ clock, sweepIntervalMs: 30_000, onEvict })
    try {
      const start = clock.now()
      await store.set('short', { meta: {}, body: Buffer.from('s'), expiresAt: start + 10_000 })
      await store.set('long', { meta: {}, body: Buffer.from('l'), expiresAt: start + 10 * HOUR_MS })

      clock.advance(20_000)
      assert.equal(store.stats().entries, 2, 'nothing removed before the sweep runs')
      t.mock.timers.tick(30_000)
      assert.equal(store.stats().entries, 1)
      assert.deepEqual(seen, ['short:expire'])
      assert.ok(store.peek('long'))
    } finally {
      await store.close()
    }
  })

  test('close stops the sweep', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] })
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 30_000 })
    await store.set('k', { meta: {}, body: Buffer.from('k'), expiresAt: clock.now() + 10_000 })
    await store.close()
    clock.advance(60_000)
    t.mock.timers.tick(60_000)
    assert.equal(store.stats().entries, 1, 'no sweep after close')
  })

  test('a throwing onEvict in the sweep becomes a warning, not a crash', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] })
    const warn = t.mock.method(process, 'emitWarning', () => {})
    const clock = createFakeClock()
    const store = createMemoryStore({
      clock,
      sweepIntervalMs: 1_000,
      onEvict: () => {
        throw new Error('hook failed')
      },
    })
    try {
      await store.set('k', { meta: {}, body: Buffer.from('k'), expiresAt: clock.now() + 10 })
      clock.advance(1_000)
      t.mock.timers.tick(1_000)
      assert.equal(warn.mock.callCount(), 1)
      assert.equal(store.stats().entries, 0, 'the entry left all the same')
    } finally {
      await store.close()
    }
  })
})

describe('memory store: peek', () => {
  test('returns the stored entry synchronously', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 })
    const entry = entryOf(clock, 10)
    await store.set('k', entry)
    assert.equal(store.peek('k'), entry, 'the same object: the memory store keeps references')
    assert.equal(store.peek('missing'), undefined)
  })

  test('does not return an expired entry', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 })
    await store.set('k', entryOf(clock, 10))
    clock.advance(HOUR_MS)
    assert.equal(store.peek('k'), undefined)
  })
})

describe('memory store: tag index bounded by the live entries', () => {
  /** Tags for entry `i`: its own, one of 50 groups, and for every third one of 7 colours. */
  function tagsOf(i: number): string[] {
    const tags = [`item:${i}`, `group:${i % 50}`]
    if (i % 3 === 0) tags.push(`colour:${i % 7}`)
    return tags
  }

  /** What the index should hold, worked out from the entries the store still returns. */
  function expectedIndex(store: MemoryStore, total: number) {
    const distinct = new Set<string>()
    let taggedKeys = 0
    let entries = 0
    for (let i = 0; i < total; i++) {
      const entry = store.peek(`/items/${i}`)
      if (entry === undefined) continue
      entries++
      const tags = new Set(entry.tags)
      taggedKeys += tags.size
      for (const tag of tags) distinct.add(tag)
    }
    return { entries, tags: distinct.size, taggedKeys, distinct }
  }

  test('100,000 tagged entries through a small store: eviction and expiry leave no garbage', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] })
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, maxBytes: 4 * MiB, sweepIntervalMs: 60_000 })
    try {
      const total = 100_000
      const body = Buffer.alloc(100, 0x63)
      for (let i = 0; i < total; i++) {
        // Every tenth lives a minute, the rest an hour: the sweep has something to do.
        const expiresAt = clock.now() + (i % 10 === 0 ? 60_000 : HOUR_MS)
        await store.set(`/items/${i}`, { meta: { i }, body, expiresAt, tags: tagsOf(i) })
      }
      assert.ok(store.stats().entries < total / 5, `most were evicted: ${store.stats().entries} left`)

      // Past expiresAt: lru-cache, which the sweep asks, keeps an entry through its last ms.
      clock.advance(60_001)
      t.mock.timers.tick(60_000)
      const afterSweep = store.stats()
      const expected = expectedIndex(store, total)
      assert.ok(expected.entries > 1_000, `${expected.entries} entries live`)
      assert.equal(afterSweep.entries, expected.entries, 'the sweep took out every expired entry')
      assert.equal(afterSweep.taggedKeys, expected.taggedKeys)
      assert.equal(afterSweep.tags, expected.tags)
      assert.deepEqual(store.stats(), afterSweep, 'reading found nothing left for it to remove')

      let listed = 0
      for (const tag of expected.distinct) listed += (await store.keysForTag(tag)).length
      assert.equal(listed, expected.taggedKeys, 'keysForTag lists each membership once')
      assert.deepEqual(await store.keysForTag('item:0'), [], 'an evicted key is listed nowhere')
    } finally {
      await store.close()
    }
  })

  test('an entry found expired by a read leaves the index', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 })
    await store.set('k', { ...entryOf(clock, 10), tags: ['a', 'b'], expiresAt: clock.now() + 1_000 })
    clock.advance(1_000)
    assert.equal(store.peek('k'), undefined)
    assert.deepEqual(store.stats(), { entries: 0, bytes: 0, tags: 0, taggedKeys: 0 })
  })

  test('an evicted entry leaves the index, and a replacement keeps its own tags', async () => {
    const clock = createFakeClock()
    const tagged = (key: string): StoredEntry => ({
      ...entryOf(clock, 100),
      tags: ['x', key === 'k3' ? 'y' : 'z'],
    })
    const probe = createMemoryStore({ clock, sweepIntervalMs: 0 })
    await probe.set('k0', tagged('k0'))
    // Room for two entries: the third pushes one out.
    const store = createMemoryStore({ clock, maxBytes: probe.stats().bytes * 2, sweepIntervalMs: 0 })
    for (const key of ['k1', 'k2', 'k1', 'k3']) await store.set(key, tagged(key))
    assert.equal(store.peek('k2'), undefined, 'k2 was the least recently used')
    assert.deepEqual((await store.keysForTag('x')).sort(), ['k1', 'k3'])
    assert.deepEqual(await store.keysForTag('z'), ['k1'])
    assert.deepEqual(store.stats().taggedKeys, 4)
  })

  test('counts tags towards the bytes of an entry', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 })
    await store.set('k0', entryOf(clock, 100))
    const plain = store.stats().bytes
    await store.set('k0', { ...entryOf(clock, 100), tags: ['product:42', 'home'] })
    assert.ok(store.stats().bytes >= plain + 'product:42home'.length + 2 * 64, `${store.stats().bytes}`)
  })
})

describe('memory store: purges and the eviction hook', () => {
  test('a hard purge reports a delete for each entry; a soft one reports nothing', async () => {
    const clock = createFakeClock()
    const { seen, onEvict } = recordEvictions()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0, onEvict })
    for (const key of ['a', 'b', 'c']) await store.set(key, { ...entryOf(clock, 10), tags: ['t'] })
    await store.purge({ tags: ['t'] }, { soft: true })
    await store.purge({ all: true }, { soft: true })
    assert.deepEqual(seen, [])
    await store.purge({ prefixes: ['a'] }, { soft: false })
    await store.purge({ all: true }, { soft: false })
    assert.deepEqual(seen.sort(), ['a:delete', 'b:delete', 'c:delete'])
  })

  test('a soft purge leaves the entry object the caller stored untouched', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 })
    const entry: StoredEntry = { ...entryOf(clock, 10), tags: ['t'] }
    await store.set('k', entry)
    await store.purge({ tags: ['t'] }, { soft: true })
    assert.equal(entry.invalidatedAt, undefined)
    assert.equal(store.peek('k')?.invalidatedAt, clock.now())
  })
})

describe('memory store: purge log limits', () => {
  const WINDOW_MS = 5 * 60_000

  test('defaults to a five-minute window: an entry fetched before a forgotten purge is refused', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0 })
    const fetchedAt = clock.now()
    clock.advance(1_000)
    const purgedAt = clock.now()
    await store.purge({ tags: ['elsewhere'] }, { soft: true })

    clock.set(purgedAt + WINDOW_MS)
    const late = (at: number): StoredEntry => ({ ...entryOf(clock, 10), tags: ['t'], fetchedAt: at })
    assert.equal(await store.set('k', late(fetchedAt)), true, 'still remembered: it does not reach t')
    clock.advance(1)
    assert.equal(await store.set('k', late(fetchedAt)), false, 'forgotten: it might have reached t')
    assert.equal(store.peek('k'), undefined, 'the refused set removed the entry')
    assert.equal(await store.set('k', late(purgedAt)), false, 'fetched in the same ms as the purge')
    assert.equal(await store.set('k', late(purgedAt + 1)), true, 'fetched after it: checked exactly')
  })

  test('an old fetch is stored when no purge has been forgotten since', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0, purgeLogWindowMs: 1_000 })
    const fetchedAt = clock.now()
    clock.advance(HOUR_MS / 2)
    assert.equal(
      await store.set('k', { ...entryOf(clock, 10), tags: ['t'], fetchedAt }),
      true,
      'no purge at all',
    )
    const purgedAt = clock.now()
    await store.purge({ tags: ['other'] }, { soft: false })
    clock.advance(10_000)
    const late = { ...entryOf(clock, 10), tags: ['t'], fetchedAt: purgedAt + 1 }
    assert.equal(await store.set('k', late), true, 'the forgotten purge came before the fetch')
  })

  test('purgeLogMaxRecords: the oldest records are forgotten first', async () => {
    const clock = createFakeClock()
    const store = createMemoryStore({ clock, sweepIntervalMs: 0, purgeLogMaxRecords: 2 })
    const times: number[] = []
    for (const tag of ['one', 'two', 'three']) {
      clock.advance(10)
      times.push(clock.now())
      await store.purge({ tags: [tag] }, { soft: false })
    }
    const late = (at: number, tag: string): StoredEntry => ({
      ...entryOf(clock, 10),
      tags: [tag],
      fetchedAt: at,
    })
    assert.equal(await store.set('k', late(times[0]!, 'unrelated')), false, '"one" is forgotten')
    assert.equal(await store.set('k', late(times[0]! + 1, 'unrelated')), true, 'two and three are known')
    assert.equal(await store.set('k', late(times[0]! + 1, 'three')), false)
    assert.equal(await store.set('k', late(times[2]! + 1, 'three')), true)
  })
})
