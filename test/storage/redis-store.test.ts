/**
 * The Redis store against a real redis-server: the shared store contract (each test on a
 * fresh key prefix), then what only it promises: binary bodies, a Redis TTL, one cache
 * shared by two store instances, failing fast while Redis is down and recovering by itself.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createClient } from 'redis'
import { hasCode } from '../../src/errors.ts'
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../../src/storage/redis-store.ts'
import { describeStoreContract } from '../contract/store-contract.ts'
import { createFakeClock } from '../support/clock.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const skip = redisSkipReason()
let redis: RedisServer | undefined
let prefixes = 0

/** A prefix no other test uses, so tests need no FLUSHDB. */
function freshPrefix(): string {
  return `t${process.pid}-${++prefixes}:`
}

async function makeStore(options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  assert.ok(redis, 'redis-server should be running')
  const store = createRedisStore({
    url: redis.url,
    keyPrefix: freshPrefix(),
    // Generous: CI machines stall; the deadline's own behaviour is tested below.
    commandTimeoutMs: 1_000,
    ...options,
  })
  await store.ready()
  return store
}

describe('redis store', { skip }, () => {
  before(async () => {
    redis = await startRedis()
  })
  after(async () => {
    await redis?.stop()
  })

  describeStoreContract('redis store', (clock) => makeStore({ clock }))

  describe('redis store: its own promises', () => {
    test('keeps every byte of a binary body, large ones too', async () => {
      const store = await makeStore()
      try {
        const body = Buffer.alloc(3 * 1024 * 1024)
        for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff
        assert.equal(await store.set('bin', { meta: {}, body, expiresAt: Date.now() + 60_000 }), true)
        const got = await store.get('bin')
        assert.ok(got?.body.equals(body))
      } finally {
        await store.close()
      }
    })

    test('refuses an entry over maxObjectBytes', async () => {
      const store = await makeStore({ maxObjectBytes: 1_000 })
      try {
        const entry = { meta: {}, body: Buffer.alloc(2_000), expiresAt: Date.now() + 60_000 }
        assert.equal(await store.set('big', entry), false)
        assert.equal(await store.get('big'), undefined)
      } finally {
        await store.close()
      }
    })

    test('gives the entry a Redis TTL of expiresAt minus now', async () => {
      const clock = createFakeClock()
      const keyPrefix = freshPrefix()
      const store = await makeStore({ clock, keyPrefix })
      const raw = createClient({ url: redis?.url })
      await raw.connect()
      try {
        await store.set('k', { meta: {}, body: Buffer.from('x'), expiresAt: clock.now() + 30_000 })
        const pttl = await raw.pTTL(`${keyPrefix}{/k}`)
        assert.ok(pttl > 25_000 && pttl <= 30_000, `PTTL ${pttl}`)
      } finally {
        await raw.close()
        await store.close()
      }
    })

    test('two instances on one Redis share entries and purges', async () => {
      const keyPrefix = freshPrefix()
      const a = await makeStore({ keyPrefix })
      const b = await makeStore({ keyPrefix })
      try {
        const expiresAt = Date.now() + 60_000
        await a.set('shared', { meta: { from: 'a' }, body: Buffer.from('a'), expiresAt, tags: ['t1'] })
        await a.set('other', { meta: {}, body: Buffer.from('o'), expiresAt, tags: ['t2'] })
        assert.deepEqual((await b.get('shared'))?.meta, { from: 'a' })
        assert.deepEqual(await b.keysForTag('t1'), ['shared'])
        assert.equal(await b.purge({ tags: ['t1'] }, { soft: false }), 1)
        assert.equal(await a.get('shared'), undefined)
        assert.ok(await a.get('other'))
        // A set on A fetched before B's purge is refused.
        const fetchedAt = Date.now() - 1_000
        assert.equal(
          await a.set('shared', { meta: {}, body: Buffer.from('late'), expiresAt, tags: ['t1'], fetchedAt }),
          false,
        )
      } finally {
        await a.close()
        await b.close()
      }
    })

    test('rate buckets: two instances take from one bucket, which expires once full again and outlives clear', async () => {
      const keyPrefix = freshPrefix()
      const a = await makeStore({ keyPrefix })
      const b = await makeStore({ keyPrefix })
      const raw = createClient({ url: redis?.url })
      await raw.connect()
      try {
        // One token a minute: nothing refills while the test runs.
        const taken = [] as boolean[]
        for (let i = 0; i < 5; i++)
          taken.push((await (i % 2 ? b : a).rateBuckets.take('api\0ip', 1 / 60, 3)).allowed)
        assert.deepEqual(taken, [true, true, true, false, false])
        const last = await a.rateBuckets.take('api\0ip', 1 / 60, 3)
        assert.ok(last.tokens >= 0 && last.tokens < 0.1, `tokens ${last.tokens}`)
        // Full again in (3 - tokens) minutes: then the key is gone and a new one starts full.
        const pttl = await raw.pTTL(`${keyPrefix}{r/api\0ip}`)
        assert.ok(pttl > 170_000 && pttl <= 180_000, `PTTL ${pttl}`)
        // A long bucket name is stored under its hash, distinct from another long name.
        const long = (c: string) => `api\0${c.repeat(4096)}`
        assert.equal((await a.rateBuckets.take(long('x'), 1 / 60, 1)).allowed, true)
        assert.equal((await a.rateBuckets.take(long('x'), 1 / 60, 1)).allowed, false)
        assert.equal((await b.rateBuckets.take(long('y'), 1 / 60, 1)).allowed, true)
        assert.ok((await raw.keys(`${keyPrefix}{r/*`)).every((key) => key.length < 100))
        await a.clear()
        assert.equal((await b.rateBuckets.take('api\0ip', 1 / 60, 3)).allowed, false)
      } finally {
        await raw.close()
        await a.close()
        await b.close()
      }
    })

    test('a set racing a purge from another instance never leaves the purged entry behind', async () => {
      const keyPrefix = freshPrefix()
      const a = await makeStore({ keyPrefix })
      const b = await makeStore({ keyPrefix })
      try {
        const selectors = [{ tags: ['race'] }, { prefixes: ['GET /race/'] }, { all: true }]
        for (let i = 0; i < 150; i++) {
          const key = `GET /race/${i % 7}`
          const fetchedAt = Date.now()
          const entry = {
            meta: { i },
            body: Buffer.from('x'),
            expiresAt: fetchedAt + 60_000,
            tags: ['race'],
            fetchedAt,
          }
          const selector = selectors[i % selectors.length] ?? {}
          // Start the purge a little before, with or after the set's steps.
          await Promise.all([a.set(key, entry), delay(i % 3).then(() => b.purge(selector, { soft: false }))])
          assert.equal(await a.get(key), undefined, `round ${i}: purge ${JSON.stringify(selector)} must win`)
        }
      } finally {
        await a.close()
        await b.close()
      }
    })

    test('a purge between reading the purge log and writing the entry still wins', async () => {
      const keyPrefix = freshPrefix()
      const b = await makeStore({ keyPrefix })
      let purge: (() => Promise<unknown>) | undefined
      const a = await makeStore({
        keyPrefix,
        beforeEntryWrite: async () => {
          await purge?.()
        },
      })
      try {
        const cases = [
          { selector: { tags: ['gap'] }, soft: false },
          { selector: { prefixes: ['GET /gap'] }, soft: false },
          { selector: { all: true }, soft: false },
          { selector: { tags: ['gap'] }, soft: true },
          { selector: { prefixes: ['GET /gap'] }, soft: true },
        ]
        for (const [i, { selector, soft }] of cases.entries()) {
          const key = `GET /gap/${i}`
          // A purge in the same millisecond as a fetch wins: keep the last case's purge out.
          await new Promise((resolve) => setTimeout(resolve, 2))
          const fetchedAt = Date.now()
          const entry = {
            meta: {},
            body: Buffer.from('x'),
            expiresAt: fetchedAt + 60_000,
            tags: ['gap'],
            fetchedAt,
          }
          let purgedAt = 0
          purge = async () => {
            purge = undefined
            purgedAt = Date.now()
            await b.purge(selector, { soft })
          }
          const stored = await a.set(key, entry)
          const label = `${soft ? 'soft' : 'hard'} ${JSON.stringify(selector)}`
          assert.equal(purgedAt > 0, true, 'the purge ran inside the gap')
          if (soft) {
            assert.equal(stored, true, label)
            const got = await a.get(key)
            assert.ok(got?.invalidatedAt !== undefined && got.invalidatedAt >= purgedAt, label)
          } else {
            assert.equal(stored, false, label)
            assert.equal(await a.get(key), undefined, label)
          }
        }
      } finally {
        await a.close()
        await b.close()
      }
    })

    test('rejects with EC_ERR_STORAGE_UNAVAILABLE while Redis is down, and works again once it is back', async () => {
      const store = await makeStore({ commandTimeoutMs: 200 })
      try {
        const expiresAt = Date.now() + 60_000
        assert.equal(await store.set('k', { meta: {}, body: Buffer.from('x'), expiresAt }), true)
        await redis?.stop()
        for (const call of [
          () => store.get('k'),
          () => store.set('k', { meta: {}, body: Buffer.from('y'), expiresAt }),
          () => store.purge({ all: true }, { soft: false }),
          () => store.keysForTag('t'),
        ]) {
          const started = Date.now()
          await assert.rejects(call(), (err) => hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE'))
          // A generous bound: the point is that no call waits for Redis to come back.
          assert.ok(Date.now() - started < 5_000, 'fails within the bound')
        }
        await redis?.restart()
        const deadline = Date.now() + 10_000
        let stored = false
        while (!stored && Date.now() < deadline) {
          stored = await store
            .set('k', { meta: { v: 2 }, body: Buffer.from('z'), expiresAt })
            .catch(() => false)
          if (!stored) await new Promise((resolve) => setTimeout(resolve, 100))
        }
        assert.ok(stored, 'set works again without recreating the store')
        assert.deepEqual((await store.get('k'))?.meta, { v: 2 })
      } finally {
        await store.close()
      }
    })

    test('checks its options, naming the field', () => {
      assert.throws(
        () => createRedisStore({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 0 }),
        /redis store: commandTimeoutMs must be a positive integer, got 0/,
      )
      assert.throws(() => createRedisStore({ url: 'redis://127.0.0.1:1', keyPrefix: 'a{b' }), /keyPrefix/)
      assert.throws(() => createRedisStore({}), /url, cluster or sentinel is required/)
    })
  })
})

/** Resolves at once (0), after the current I/O turn (1) or after about a millisecond (2). */
function delay(kind: number): Promise<void> {
  if (kind === 0) return Promise.resolve()
  return new Promise((resolve) => (kind === 1 ? setImmediate(resolve) : setTimeout(resolve, 1)))
}
