/**
 * The Redis store and the invalidation bus over TLS (rediss://) against a real redis-server
 * with --tls-port and certificates from a private CA made at test time: the whole store
 * contract, a refused connection without the CA, and a client certificate for a server that
 * asks for one.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import type { Clock } from '../../src/clock.ts'
import { hasCode } from '../../src/errors.ts'
import { createRedisBus } from '../../src/storage/redis-bus.ts'
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../../src/storage/redis-store.ts'
import type { BusMessage } from '../../src/storage/tiered-store.ts'
import { describeStoreContract } from '../contract/store-contract.ts'
import { type RedisTlsServer, redisTlsSkipReason, startRedisTls } from '../support/redis-tls.ts'

const skip = redisTlsSkipReason()
let redis: RedisTlsServer | undefined
let prefixes = 0

function options(): RedisStoreOptions {
  assert.ok(redis, 'the TLS redis-server should be running')
  return {
    url: redis.url,
    tls: { ca: readFileSync(redis.files.ca) },
    keyPrefix: `tls${process.pid}-${++prefixes}:`,
    // Generous: a TLS handshake on a loaded CI machine takes a while.
    commandTimeoutMs: 1_000,
  }
}

async function makeStore(clock?: Clock): Promise<RedisStore> {
  const store = createRedisStore({ ...options(), clock })
  await store.ready(10_000)
  return store
}

describe('redis store over TLS', { skip }, () => {
  before(async () => {
    redis = await startRedisTls()
  })
  after(async () => {
    await redis?.stop()
  })

  describeStoreContract('redis store over TLS', (clock) => makeStore(clock))

  test('without the private CA the server is not trusted', async () => {
    const errors: unknown[] = []
    const store = createRedisStore({ ...options(), tls: undefined, onError: (err) => errors.push(err) })
    try {
      await assert.rejects(store.ready(2_000))
      await assert.rejects(store.get('k'), (err) => hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE'))
      assert.ok(
        errors.some((err) => /self[- ]signed|unable to (get|verify)/i.test(String(err))),
        `a certificate error was reported: ${errors.map(String).join('; ')}`,
      )
    } finally {
      await store.close()
    }
  })

  test('the invalidation bus publishes and receives over TLS', async () => {
    const { url, tls, keyPrefix } = options()
    const log = { warn() {}, info() {} }
    const a = createRedisBus({ url, tls, keyPrefix: keyPrefix ?? '', log })
    const b = createRedisBus({ url, tls, keyPrefix: keyPrefix ?? '', log })
    const received: BusMessage[] = []
    b.subscribe(
      (message) => received.push(message),
      () => {},
    )
    try {
      const message: BusMessage = { kind: 'keys', keys: ['GET /a'] }
      const deadline = Date.now() + 10_000
      // Published until it arrives: the subscription is made in the background.
      while (received.length === 0 && Date.now() < deadline) {
        await a.publish(message)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      assert.deepEqual(received[0], message)
    } finally {
      await Promise.allSettled([a.close(), b.close()])
    }
  })
})

describe('redis store over TLS with a client certificate', { skip }, () => {
  let strict: RedisTlsServer | undefined
  before(async () => {
    strict = await startRedisTls({ requireClientCert: true })
  })
  after(async () => {
    await strict?.stop()
  })

  test('connects with the certificate, and is refused without it', async () => {
    assert.ok(strict)
    const ca = readFileSync(strict.files.ca)
    const withCert = createRedisStore({
      url: strict.url,
      tls: { ca, cert: readFileSync(strict.files.clientCert), key: readFileSync(strict.files.clientKey) },
      commandTimeoutMs: 1_000,
    })
    const without = createRedisStore({ url: strict.url, tls: { ca }, commandTimeoutMs: 500 })
    try {
      await withCert.ready(10_000)
      const entry = { meta: { v: 1 }, body: Buffer.from('x'), expiresAt: Date.now() + 60_000 }
      assert.equal(await withCert.set('k', entry), true)
      assert.deepEqual((await withCert.get('k'))?.meta, { v: 1 })
      // Under TLS 1.3 the client may finish its handshake before the server refuses it, so
      // the refusal shows on the first command rather than on connecting.
      await assert.rejects(
        without.ready(2_000).then(() => without.get('k')),
        (err) => hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE'),
      )
    } finally {
      await Promise.allSettled([withCert.close(), without.close()])
    }
  })
})
