/**
 * Redis AUTH against a real redis-server with `requirepass` and an ACL user: credentials in
 * the URL, or from storage.redis.username/password through the config, both log in; a wrong
 * password is logged as refused credentials and opens the circuit breaker, after which
 * lookups miss at once.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { loadConfig } from '../../src/config/load.ts'
import { hasCode } from '../../src/errors.ts'
import { createRedisStore } from '../../src/storage/redis-store.ts'
import { buildStore, redisTarget } from '../../src/store-from-config.ts'
import { createFakeClock } from '../support/clock.ts'
import { type RedisServer, redisSkipReason, startRedis } from '../support/redis.ts'

const skip = redisSkipReason()
const user = { name: 'edge', password: 'edge-acl-pw' }
const defaultPassword = 'default-user-pw'
const entry = () => ({ meta: { ok: true }, body: Buffer.from('x'), expiresAt: Date.now() + 60_000 })

describe('redis AUTH: password and ACL user', { skip }, () => {
  let redis: RedisServer
  let hostPort = ''
  before(async () => {
    redis = await startRedis({ password: defaultPassword, user })
    hostPort = new URL(redis.url).host
  })
  const cacheDir = mkdtempSync(join(tmpdir(), 'edgecache-auth-'))
  after(async () => {
    await redis?.stop()
    rmSync(cacheDir, { recursive: true, force: true })
  })

  /** The store that storage config would build, over `env`'s Redis settings. */
  function storeFromEnv(env: Record<string, string>) {
    const config = loadConfig({ env: { EDGECACHE_STORAGE__DRIVER: 'redis', ...env } })
    assert.ok(config.storage.driver === 'redis')
    return createRedisStore({ ...redisTarget(config.storage.redis), commandTimeoutMs: 1_000 })
  }

  const logins: [string, () => Record<string, string>][] = [
    [
      'an ACL user in the URL',
      () => ({ EDGECACHE_STORAGE__REDIS__URL: `redis://edge:${user.password}@${hostPort}` }),
    ],
    [
      'an ACL user from username and password',
      () => ({
        EDGECACHE_STORAGE__REDIS__URL: `redis://${hostPort}`,
        EDGECACHE_STORAGE__REDIS__USERNAME: user.name,
        EDGECACHE_STORAGE__REDIS__PASSWORD: user.password,
      }),
    ],
    [
      'the default user from password alone',
      () => ({
        EDGECACHE_STORAGE__REDIS__URL: `redis://${hostPort}`,
        EDGECACHE_STORAGE__REDIS__PASSWORD: defaultPassword,
      }),
    ],
    [
      'a user in the URL with the password from config',
      () => ({
        EDGECACHE_STORAGE__REDIS__URL: `redis://edge@${hostPort}`,
        EDGECACHE_STORAGE__REDIS__PASSWORD: user.password,
      }),
    ],
  ]
  for (const [name, env] of logins) {
    test(`logs in with ${name}`, async () => {
      const store = storeFromEnv(env())
      try {
        await store.ready(5_000)
        assert.equal(await store.set('k', entry()), true)
        assert.deepEqual((await store.get('k'))?.meta, { ok: true })
      } finally {
        await store.close()
      }
    })
  }

  test('without credentials every call fails fast with EC_ERR_STORAGE_UNAVAILABLE', async () => {
    const store = createRedisStore({ url: redis.url, commandTimeoutMs: 500 })
    try {
      await assert.rejects(store.get('k'), (err) => hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE'))
    } finally {
      await store.close()
    }
  })

  test('a wrong password is logged as refused credentials and opens the breaker', async () => {
    const clock = createFakeClock()
    const warnings: { obj: Record<string, unknown>; msg: string }[] = []
    const config = loadConfig({
      env: {
        EDGECACHE_STORAGE__DRIVER: 'tiered',
        EDGECACHE_STORAGE__REDIS__URL: `redis://edge:wrong-password@${hostPort}`,
        EDGECACHE_STORAGE__REDIS__COMMAND_TIMEOUT: '500ms',
        EDGECACHE_STORAGE__LOCAL__PATH: cacheDir,
      },
    })
    const built = await buildStore(config.storage, {
      clock,
      log: { warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }), info() {} },
      onEvict() {},
      onL1Reset() {},
      setAsideUnusable: true,
    })
    try {
      // Bounded polling: the first refusal arrives once the client has tried to log in.
      const deadline = Date.now() + 10_000
      while (!warnings.some(({ msg }) => msg.startsWith('redis refused the credentials'))) {
        assert.ok(
          Date.now() < deadline,
          `no refused-credentials warning: ${JSON.stringify(warnings.map((w) => w.msg))}`,
        )
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const refused = warnings.find(({ msg }) => msg.startsWith('redis refused the credentials'))
      assert.match(String(refused?.obj.err), /WRONGPASS/)
      assert.doesNotMatch(JSON.stringify(warnings.map(({ msg }) => msg)), /wrong-password/)
      // Until the breaker opens, a call fails as storage unavailable (the cache stage then
      // serves a miss); nothing else escapes.
      for (let i = 0; i < 6; i++) {
        await built.store.get(`k${i}`).catch((err: unknown) => {
          assert.ok(hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE'), String(err))
        })
      }
      assert.notEqual(built.state().state, 'up', 'the breaker is no longer closed')
      assert.ok(warnings.some(({ msg }) => msg === 'redis circuit open'))
      // Open: a lookup misses at once instead of waiting to fail.
      assert.equal(await built.store.get('k'), undefined)
    } finally {
      await built.close()
    }
  })
})
