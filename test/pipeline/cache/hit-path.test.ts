/**
 * The cache stage answers a hit the store holds in this process from `peek`, without the
 * store's async `get`, and still asks `get` when `peek` cannot say (nothing held here, or
 * a store without `peek`).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Answer } from '../../../src/pipeline/answer.ts'
import { createCollapser } from '../../../src/pipeline/collapser.ts'
import type { RequestContext } from '../../../src/pipeline/context.ts'
import { createCacheStage } from '../../../src/pipeline/cache/stage.ts'
import { createMemoryStore } from '../../../src/storage/memory-store.ts'
import type { CacheStore } from '../../../src/storage/store.ts'
import { createStoreInvalidator } from '../../../src/surrogate/store-invalidator.ts'
import { createFakeClock } from '../../support/clock.ts'
import { makeContext } from '../../upstream/make-context.ts'

const silent = { warn() {}, error() {}, info() {} }

/** The memory store behind a wrapper that counts `get` calls and can hide `peek`. */
function countingStore(withPeek: boolean) {
  const clock = createFakeClock()
  const memory = createMemoryStore({ clock })
  let gets = 0
  const store: CacheStore = {
    get: (key) => {
      gets += 1
      return memory.get(key)
    },
    ...(withPeek ? { peek: (key: string) => memory.peek(key) } : {}),
    set: (key, entry) => memory.set(key, entry),
    delete: (key) => memory.delete(key),
    clear: () => memory.clear(),
    purge: (selector, options) => memory.purge(selector, options),
    keysForTag: (tag) => memory.keysForTag(tag),
    stats: () => memory.stats(),
    close: () => memory.close(),
  }
  return { store, memory, clock, gets: () => gets }
}

function stageOn(store: CacheStore, clock: ReturnType<typeof createFakeClock>) {
  return createCacheStage({
    store,
    clock,
    collapser: createCollapser(),
    invalidator: createStoreInvalidator({ store, clock }),
    storeName: 'memory',
    log: silent,
    name: 'edgecache',
    maxObjectBytes: 1024 * 1024,
    collapseTimeoutMs: 1_000,
    // A stale response with a validator is kept this long, to be revalidated.
    keepMs: 3_600_000,
    admission: {
      heuristicFraction: 0.1,
      maxHeuristicTtlMs: 86_400_000,
      targetedFields: ['cdn-cache-control'],
      storeSetCookie: false,
    },
  })
}

function origin(clock: ReturnType<typeof createFakeClock>) {
  let calls = 0
  let last: RequestContext | undefined
  const next = async (ctx: RequestContext): Promise<Answer> => {
    calls += 1
    last = ctx
    return {
      status: 200,
      headers: {
        'cache-control': 'max-age=60',
        etag: '"v1"',
        date: new Date(clock.now()).toUTCString(),
        'content-length': '5',
      },
      body: Buffer.from('hello'),
    }
  }
  return { next, calls: () => calls, last: () => last }
}

/** Waits, with a bound, until the miss's store has committed (commit runs after the answer). */
async function stored(memory: ReturnType<typeof createMemoryStore>): Promise<void> {
  for (let i = 0; i < 1_000 && memory.stats().entries === 0; i++) await new Promise(setImmediate)
  assert.equal(memory.stats().entries, 1, 'the miss was stored')
}

describe('cache stage: the hit path', () => {
  it('answers a hit the store holds in this process from peek, never calling get', async () => {
    const { store, memory, clock, gets } = countingStore(true)
    const stage = stageOn(store, clock)
    const backend = origin(clock)
    const first = await stage.handle(makeContext({ target: '/a' }), backend.next)
    assert.match(String(first.headers['cache-status']), /fwd=uri-miss;.*; stored$/)
    await stored(memory)
    const getsAfterMiss = gets()

    const hit = await stage.handle(makeContext({ target: '/a' }), backend.next)
    assert.equal(hit.status, 200)
    assert.match(String(hit.headers['cache-status']), /^edgecache; hit; ttl=60$/)
    assert.deepEqual(hit.body, Buffer.from('hello'))
    assert.equal(gets(), getsAfterMiss, 'the hit made no get call')
    assert.equal(backend.calls(), 1)
  })

  it('asks get when peek holds nothing: a miss still goes through the async lookup', async () => {
    const { store, clock, gets } = countingStore(true)
    const stage = stageOn(store, clock)
    const backend = origin(clock)
    await stage.handle(makeContext({ target: '/b' }), backend.next)
    assert.ok(gets() >= 1, 'the miss looked the key up with get')
    assert.equal(backend.calls(), 1)
  })

  it('uses get for every hit when the store has no peek', async () => {
    const { store, memory, clock, gets } = countingStore(false)
    const stage = stageOn(store, clock)
    const backend = origin(clock)
    await stage.handle(makeContext({ target: '/c' }), backend.next)
    await stored(memory)
    const getsAfterMiss = gets()
    const hit = await stage.handle(makeContext({ target: '/c' }), backend.next)
    assert.match(String(hit.headers['cache-status']), /^edgecache; hit/)
    assert.equal(gets(), getsAfterMiss + 1)
    assert.equal(backend.calls(), 1)
  })

  it('sends a stored response that must be revalidated to the origin, not answering it from peek', async () => {
    const { store, memory, clock } = countingStore(true)
    const stage = stageOn(store, clock)
    const backend = origin(clock)
    await stage.handle(makeContext({ target: '/d' }), backend.next)
    await stored(memory)
    clock.advance(61_000)
    const again = await stage.handle(makeContext({ target: '/d' }), backend.next)
    assert.equal(again.status, 200)
    assert.match(String(again.headers['cache-status']), /fwd=stale/)
    assert.equal(backend.calls(), 2, 'the stale response went back to the origin')
    assert.equal(backend.last()?.headers['if-none-match'], '"v1"', 'as a conditional request')
  })
})
