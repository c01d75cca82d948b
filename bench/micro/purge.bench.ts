/**
 * Purges in the memory store: one tag over 10,000 entries (the target: well under
 * 50 ms), 100 tags over 100 entries each, and a prefix purge that has to scan 100,000
 * keys. Each sample refills what the previous one purged, outside the timed part. Only
 * in-process work: no I/O, no timers (the expiry sweep is off).
 */
import { bench, do_not_optimize, run } from 'mitata'
import { createMemoryStore, type MemoryStore } from '../../src/storage/memory-store.ts'
import type { StoredEntry } from '../../src/storage/store.ts'

const HOUR_MS = 3_600_000
const meta = { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, storedAt: Date.now() }
const body = Buffer.alloc(1024, 0x61)

function entry(tags: readonly string[]): StoredEntry {
  return { meta, body, expiresAt: Date.now() + HOUR_MS, tags }
}

function newStore(): MemoryStore {
  return createMemoryStore({ maxBytes: 1024 * 1024 * 1024, sweepIntervalMs: 0 })
}

/** Sets every key in `keys` with its tags: a refill after a purge. */
async function fill(store: MemoryStore, keys: readonly (readonly [string, readonly string[]])[]) {
  for (const [key, tags] of keys) await store.set(key, entry(tags))
}

// One tag over 10,000 entries, each also carrying its URL tag and a shared one.
const oneTag = newStore()
const oneTagKeys = Array.from({ length: 10_000 }, (_, i) => {
  const key = `GET shop.example/p/${i}`
  return [key, [`url:${key}`, 'product:42', `shard:${i % 16}`]] as const
})
await fill(oneTag, oneTagKeys)

bench('purge: hard, 1 tag × 10,000 entries', function* () {
  yield {
    0: () => fill(oneTag, oneTagKeys).then(() => oneTag),
    async bench(store: MemoryStore) {
      do_not_optimize(await store.purge({ tags: ['product:42'] }, { soft: false }))
    },
  }
})

bench('purge: soft, 1 tag × 10,000 entries', function* () {
  yield {
    0: () => fill(oneTag, oneTagKeys).then(() => oneTag),
    async bench(store: MemoryStore) {
      do_not_optimize(await store.purge({ tags: ['product:42'] }, { soft: true }))
    },
  }
})

bench('purge: dry run, 1 tag × 10,000 entries', async () =>
  do_not_optimize(await oneTag.purge({ tags: ['product:42'] }, { soft: false, dryRun: true })),
)

// 100 tags over 100 entries each, among 10,000 entries under other tags.
const manyTags = newStore()
const manyTagKeys = Array.from({ length: 10_000 }, (_, i) => {
  const key = `GET shop.example/c/${i}`
  return [key, [`url:${key}`, `category:${i % 100}`, `page:${i % 200}`]] as const
})
await fill(manyTags, manyTagKeys)
const hundredTags = Array.from({ length: 100 }, (_, i) => `category:${i}`)
const hundredTagKeys = manyTagKeys.filter(([, tags]) => hundredTags.includes(tags[1]))

bench('purge: hard, 100 tags × 100 entries', function* () {
  yield {
    0: () => fill(manyTags, hundredTagKeys).then(() => manyTags),
    async bench(store: MemoryStore) {
      do_not_optimize(await store.purge({ tags: hundredTags }, { soft: false }))
    },
  }
})

// A prefix that reaches 1,000 of 100,000 keys: the cost is the scan of every key.
const prefixed = newStore()
const prefixedKeys = Array.from({ length: 100_000 }, (_, i) => {
  const key = `GET shop.example/s/${i % 100}/${i}`
  return [key, [`url:${key}`]] as const
})
await fill(prefixed, prefixedKeys)
const prefix = 'GET shop.example/s/7/'
const prefixHits = prefixedKeys.filter(([key]) => key.startsWith(prefix))

bench('purge: hard, 1 prefix over 100,000 keys (1,000 reached)', function* () {
  yield {
    0: () => fill(prefixed, prefixHits).then(() => prefixed),
    async bench(store: MemoryStore) {
      do_not_optimize(await store.purge({ prefixes: [prefix] }, { soft: false }))
    },
  }
})

await run()
