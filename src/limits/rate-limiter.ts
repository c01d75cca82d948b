/**
 * Where a worker takes tokens from. With one process the buckets are its own. With workers
 * the primary holds them (cluster-rate-limiter.ts), so a client's limit holds across every
 * worker of the host whichever one its connections land on: a share per worker would let a
 * client whose keep-alive connection sticks to one worker have only its share, and one that
 * spreads its connections have the sum.
 */
import type { Clock } from '../clock.ts'
import { createTokenBuckets, type TakeResult } from './token-buckets.ts'

export type { TakeResult } from './token-buckets.ts'

export interface RateLimiter {
  /** Takes one token from the bucket `key`, refilled at `rate` a second up to `burst`. */
  take(key: string, rate: number, burst: number): Promise<TakeResult> | TakeResult
}

/** Buckets kept at most per process (or in the primary for all workers). */
export const MAX_BUCKETS = 100_000

/**
 * @example const limiter = createLocalRateLimiter(systemClock)
 */
export function createLocalRateLimiter(clock: Clock): RateLimiter {
  const buckets = createTokenBuckets(MAX_BUCKETS)
  return { take: (key, rate, burst) => buckets.take(key, rate, burst, clock.now()) }
}
