/**
 * The memory store's hot functions: a hit, a miss and a set, through the async
 * CacheStore methods and through the synchronous `peek` the hit path may use. Only
 * in-process work: no I/O, no timers (the expiry sweep is off).
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import { createMemoryStore } from '../../src/storage/memory-store.ts'

const KEYS = 10_000
const HOUR_MS = 3_600_000

const store = createMemoryStore({ maxBytes: 64 * 1024 * 1024, sweepIntervalMs: 0 })
const meta = {
  status: 200,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'public, max-age=60',
    etag: '"abc123"',
  },
  storedAt: Date.now(),
}
const body = Buffer.alloc(4 * 1024, 0x61)
const keys = Array.from({ length: KEYS }, (_, i) => `GET example.com/articles/${i}?page=1`)
for (const key of keys) await store.set(key, { meta, body, expiresAt: Date.now() + HOUR_MS })

let i = 0
const nextKey = (): string => keys[i++ % KEYS]!

summary(() => {
  bench('memory store: get hit', async () => do_not_optimize(await store.get(nextKey())))
  bench('memory store: peek hit', () => do_not_optimize(store.peek(nextKey())))
  bench('memory store: get miss', async () => do_not_optimize(await store.get('GET example.com/missing')))
})

// Replaces entries under existing keys: the steady state of a warm cache.
bench('memory store: set (replace)', async () =>
  do_not_optimize(await store.set(nextKey(), { meta, body, expiresAt: Date.now() + HOUR_MS })),
)

// A store with room for about 1,000 entries, fed 10,000 keys: every set evicts one.
const small = createMemoryStore({ maxBytes: 1_000 * 4_600, sweepIntervalMs: 0 })
bench('memory store: set (with eviction)', async () =>
  do_not_optimize(await small.set(nextKey(), { meta, body, expiresAt: Date.now() + HOUR_MS })),
)

await run()
