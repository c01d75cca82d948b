/**
 * Rate limits shared by every instance through Redis (`rateLimit.shared`): each take is one
 * script call on the store's Redis (storage/redis-rate-buckets.ts). When Redis cannot answer
 * (down, its circuit open, a call past its deadline) the decision falls back to the host's
 * own buckets (the primary's, or this process's): limits then hold per host, as without
 * Redis, rather than refusing every request or letting every one through. The switch is
 * logged once each way, and each decision made by the fallback is counted.
 */
import { events, publish } from '../observability/events.ts'
import type { RateLimiter, TakeResult } from './rate-limiter.ts'
import { takeResult } from './token-buckets.ts'

/** Buckets every instance shares, as the store's Redis offers them. */
export interface SharedBuckets {
  /** Takes one token; rejects when Redis cannot answer. */
  take(
    bucket: string,
    rate: number,
    burst: number,
  ): Promise<{ readonly allowed: boolean; readonly tokens: number }>
  /** False while calls would fail at once (the circuit is open): skip to the fallback. */
  available(): boolean
}

export interface SharedRateLimiterOptions {
  readonly buckets: SharedBuckets
  /** The host's limiter, for decisions Redis cannot make. */
  readonly fallback: RateLimiter
  readonly log: {
    warn(obj: object, msg: string): void
    info(obj: object, msg: string): void
  }
}

/**
 * @example
 * const limiter = createSharedRateLimiter({ buckets: built.rateBuckets, fallback: createLocalRateLimiter(clock), log })
 */
export function createSharedRateLimiter(options: SharedRateLimiterOptions): RateLimiter {
  const { buckets, fallback, log } = options
  let fallingBack = false

  const local = (
    key: string,
    rate: number,
    burst: number,
    err: unknown,
  ): Promise<TakeResult> | TakeResult => {
    if (!fallingBack) {
      fallingBack = true
      log.warn(
        { reason: err instanceof Error ? err.message : String(err) },
        "rate limits fall back to this host's buckets: redis does not answer",
      )
    }
    publish(events.rateLimitFallback, {})
    return fallback.take(key, rate, burst)
  }

  return {
    take(key, rate, burst) {
      if (!buckets.available()) return local(key, rate, burst, 'redis circuit open')
      return buckets.take(key, rate, burst).then(
        (taken) => {
          if (fallingBack) {
            fallingBack = false
            log.info({}, 'rate limits shared through redis again')
          }
          return takeResult(taken.allowed, taken.tokens, rate, burst)
        },
        (err: unknown) => local(key, rate, burst, err),
      )
    },
  }
}
