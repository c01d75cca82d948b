/**
 * The Redis side of fill locks: one short-lived string per key (`P{/E}l`, in the entry's
 * slot). While claimed it holds the holder's random token; once released it holds
 * `=<result>` for a moment, so an instance that polls learns how the fill ended as surely
 * as one that got the notice. Claiming and releasing are scripts (a release checks the
 * token), and an expired claim simply disappears, so a crashed holder blocks nobody for
 * longer than the lock's TTL. Raw commands only: no breaker, no waiting (fill-locks.ts).
 */
import { randomBytes } from 'node:crypto'
import type { RedisConnection } from './redis-connection.ts'
import type { RedisKeys } from './redis-keys.ts'
import { ACQUIRE_FILL, RELEASE_FILL } from './redis-scripts.ts'
import type { FillResult } from './store.ts'

/** A lock's state: claimed, how its last claim ended (for a moment after), or free. */
export type FillLockState = 'held' | FillResult | 'free'

export interface RedisFillLock {
  /** Claims `key` for `ttlMs`: resolves with the claim's token, or undefined when it is held. */
  acquire(key: string, ttlMs: number): Promise<string | undefined>
  /** Ends the claim on `key` if it still holds `token`, noting `result`; resolves true when it did. */
  release(key: string, token: string, result: FillResult): Promise<boolean>
  state(key: string): Promise<FillLockState>
}

/** How long a released lock keeps its result: longer than a waiter's longest poll interval. */
const RESULT_TTL_MS = 2_000
const RESULTS: readonly string[] = [
  'stored',
  'uncacheable',
  'abandoned',
  'failed',
  'timed-out',
] satisfies FillResult[]

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
      const claimed = Number(await redis.eval(ACQUIRE_FILL, [name], [token, String(ttlMs)])) === 1
      return claimed ? token : undefined
    },
    async release(key, token, result) {
      const name = keys.fillLockKey(key)
      const reply = await redis.eval(RELEASE_FILL, [name], [token, result, String(RESULT_TTL_MS)])
      return Number(reply) === 1
    },
    async state(key) {
      const name = keys.fillLockKey(key)
      const value = (await redis.send(name, ['GET', name])) as Buffer | null
      if (value === null) return 'free'
      const text = value.toString()
      if (!text.startsWith('=')) return 'held'
      const result = text.slice(1)
      return RESULTS.includes(result) ? (result as FillResult) : 'free'
    },
  }
}
