/**
 * The Redis side of fill locks: one short-lived string per key (`P{/E}l`, in the entry's
 * slot) holding a random token. SET NX PX claims it, a token-checked script ends it, and
 * an expired one simply disappears, so a crashed holder blocks nobody for longer than the
 * lock's TTL. Raw commands only: no breaker, no waiting (fill-locks.ts adds those).
 */
import { randomBytes } from 'node:crypto'
import type { RedisConnection } from './redis-connection.ts'
import type { RedisKeys } from './redis-keys.ts'
import { RELEASE_FILL } from './redis-scripts.ts'

export interface RedisFillLock {
  /** Claims `key` for `ttlMs`: resolves with the claim's token, or undefined when it is held. */
  acquire(key: string, ttlMs: number): Promise<string | undefined>
  /** Ends the claim on `key` if it still holds `token`; resolves true when it did. */
  release(key: string, token: string): Promise<boolean>
  /** True while some instance holds a claim on `key`. */
  isHeld(key: string): Promise<boolean>
}

export function createRedisFillLock(
  redis: RedisConnection,
  keys: Pick<RedisKeys, 'fillLockKey'>,
): RedisFillLock {
  return {
    async acquire(key, ttlMs) {
      if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
        throw new Error(`redis fill lock: ttlMs must be a positive integer, got ${ttlMs}`)
      }
      const name = keys.fillLockKey(key)
      // 16 random bytes: two instances never pick the same token, so release checks ownership.
      const token = randomBytes(16).toString('base64url')
      const reply = await redis.send(name, ['SET', name, token, 'NX', 'PX', String(ttlMs)])
      return reply === null ? undefined : token
    },
    async release(key, token) {
      const name = keys.fillLockKey(key)
      return Number(await redis.eval(RELEASE_FILL, [name], [token])) === 1
    },
    async isHeld(key) {
      const name = keys.fillLockKey(key)
      return Number(await redis.send(name, ['EXISTS', name])) === 1
    },
  }
}
