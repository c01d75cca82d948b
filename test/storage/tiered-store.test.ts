/**
 * The tiered store's own logic over a memory L2 and an in-process bus: L1 hits, L1 fills,
 * coherence across instances, lost subscriptions and a shared tier that is down.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createCircuitBreaker } from '../../src/storage/circuit-breaker.ts'
import { createMemoryStore } from '../../src/storage/memory-store.ts'
import type { CacheStore, StoredEntry } from '../../src/storage/store.ts'
import { TieredStore } from '../../src/storage/tiered-store.ts'
import { createLocalBusNetwork } from '../support/bus.ts'
import { createFakeClock, type FakeClock } from '../support/clock.ts'
import { describeStoreContract } from '../contract/store-contract.ts'

const log = { info: () => {}, warn: () => {} }

function tiered(l2: CacheStore, network = createLocalBusNetwork(), clock: FakeClock = createFakeClock()) {
  const bus = network.join()
  const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000, clock })
  const store = new TieredStore({ l1: createMemoryStore({ clock }), l2, bus, breaker, log })
  return { store, bus, breaker }
}

function entry(clock: FakeClock, text: string, extra: Partial<StoredEntry> = {}): StoredEntry {
  return { meta: { text }, body: Buffer.from(text), expiresAt: clock.now() + 60_000, ...extra }
}

/** An L2 that counts reads and can be switched off. */
function countingStore(inner: CacheStore) {
  let gets = 0
  let down = false
  const guard = <T>(call: () => Promise<T>) => (down ? Promise.reject(new Error('l2 down')) : call())
  const store: CacheStore = {
    get: (key) => {
      gets++
      return guard(() => inner.get(key))
    },
    set: (key, e) => guard(() => inner.set(key, e)),
    delete: (key) => guard(() => inner.delete(key)),
    clear: () => guard(() => inner.clear()),
    purge: (s, o) => guard(() => inner.purge(s, o)),
    keysForTag: (t) => guard(() => inner.keysForTag(t)),
    stats: () => inner.stats(),
    close: () => inner.close(),
  }
  return {
    store,
    gets: () => gets,
    setDown: (value: boolean) => {
      down = value
    },
  }
}

describeStoreContract('tiered store (memory L1 over memory L2)', (clock) => {
  const bus = createLocalBusNetwork().join()
  const breaker = createCircuitBreaker({ clock })
  return new TieredStore({
    l1: createMemoryStore({ clock }),
    l2: createMemoryStore({ clock }),
    bus,
    breaker,
    log,
  })
})

describe('tiered store', () => {
  test('an L1 hit does not reach L2; an L2 hit fills L1', async () => {
    const clock = createFakeClock()
    const l2 = countingStore(createMemoryStore({ clock }))
    const network = createLocalBusNetwork()
    const a = tiered(l2.store, network, clock)
    const b = tiered(l2.store, network, clock)
    await a.store.set('k', entry(clock, 'v1'))
    assert.equal((await a.store.get('k'))?.body.toString(), 'v1')
    assert.equal(l2.gets(), 0, 'the writer serves from its own L1')
    assert.equal((await b.store.get('k'))?.body.toString(), 'v1')
    assert.equal(l2.gets(), 1, 'the other instance reads L2 once')
    await b.store.get('k')
    assert.equal(l2.gets(), 1, 'then from its L1')
  })

  test('peek answers from L1 only, without reaching L2', async () => {
    const clock = createFakeClock()
    const l2 = countingStore(createMemoryStore({ clock }))
    const network = createLocalBusNetwork()
    const a = tiered(l2.store, network, clock)
    const b = tiered(l2.store, network, clock)
    await a.store.set('k', entry(clock, 'v1'))
    assert.equal(a.store.peek('k')?.body.toString(), 'v1', 'the writer holds it in L1')
    assert.equal(b.store.peek('k'), undefined, 'the other instance holds nothing yet: peek cannot say')
    assert.equal(l2.gets(), 0)
    await b.store.get('k')
    assert.equal(b.store.peek('k')?.body.toString(), 'v1', 'an L2 read filled L1')
  })

  test('an overwrite and a purge on one instance drop the other instance L1 copy', async () => {
    const clock = createFakeClock()
    const l2 = createMemoryStore({ clock })
    const network = createLocalBusNetwork()
    const a = tiered(l2, network, clock)
    const b = tiered(l2, network, clock)
    await a.store.set('k', entry(clock, 'v1', { tags: ['t'] }))
    await b.store.get('k')
    await a.store.set('k', entry(clock, 'v2', { tags: ['t'] }))
    assert.equal((await b.store.get('k'))?.body.toString(), 'v2')
    assert.equal(await a.store.purge({ tags: ['t'] }, { soft: false }), 1)
    assert.equal(await b.store.get('k'), undefined)
  })

  test('a lost subscription clears L1, since purges may have been missed', async () => {
    const clock = createFakeClock()
    const network = createLocalBusNetwork()
    const l2 = createMemoryStore({ clock })
    const a = tiered(l2, network, clock)
    await a.store.set('k', entry(clock, 'v1'))
    await l2.delete('k') // as if a purge elsewhere reached L2 but not this instance
    assert.ok(await a.store.get('k'), 'still in L1')
    a.bus.lose()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(await a.store.get('k'), undefined)
  })

  test('the first subscription clears L1 too, said at info and not counted as a storage error', async () => {
    const clock = createFakeClock()
    const bus = createLocalBusNetwork().join()
    const lines: { level: string; msg: string }[] = []
    let resets = 0
    const store = new TieredStore({
      l1: createMemoryStore({ clock }),
      l2: createMemoryStore({ clock }),
      bus,
      breaker: createCircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000, clock }),
      log: {
        info: (_obj, msg) => lines.push({ level: 'info', msg }),
        warn: (_obj, msg) => lines.push({ level: 'warn', msg }),
      },
      onL1Reset: () => resets++,
    })
    await store.set('k', entry(clock, 'kept from before a restart'))
    bus.lose('started')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(store.peek('k'), undefined, 'purges made while away went by unseen')
    assert.deepEqual(
      lines.map((l) => l.level),
      ['info'],
    )
    assert.equal(resets, 0)
    bus.lose('disconnected')
    assert.deepEqual(
      lines.map((l) => l.level),
      ['info', 'warn'],
    )
    assert.equal(resets, 1)
  })

  test('with L2 down: L1 still serves, misses are immediate, writes stay local, purges fail', async () => {
    const clock = createFakeClock()
    const l2 = countingStore(createMemoryStore({ clock }))
    const a = tiered(l2.store, createLocalBusNetwork(), clock)
    await a.store.set('cached', entry(clock, 'v1'))
    l2.setDown(true)
    await assert.rejects(a.store.get('first-miss'), /l2 down/)
    assert.equal(a.breaker.state(), 'open')
    const before = l2.gets()
    assert.equal(await a.store.get('other'), undefined)
    assert.equal(l2.gets(), before, 'an open breaker does not call L2')
    assert.equal((await a.store.get('cached'))?.body.toString(), 'v1')
    assert.equal(await a.store.set('local', entry(clock, 'v')), true)
    assert.ok(await a.store.get('local'))
    await assert.rejects(
      a.store.purge({ all: true }, { soft: false }),
      (err: { code?: string }) => err.code === 'EC_ERR_STORAGE_UNAVAILABLE',
    )
  })
})
