/**
 * Token buckets by key: each holds up to `burst` tokens and refills at `rate` a second; a
 * request takes one or is refused, and learns what the RateLimit fields say (tokens left,
 * seconds until the bucket is full again, seconds until a token is back). Pure: time comes in
 * as `now`. Memory is bounded: past `maxKeys` the least recently used bucket is dropped,
 * which forgets only a bucket nobody has used for the longest while (at worst, its client
 * gets a full bucket again).
 */

export interface TakeResult {
  readonly allowed: boolean
  /** Whole tokens left after this request. */
  readonly remaining: number
  /** Seconds until the bucket is full again (RateLimit `t`), rounded up. */
  readonly resetSeconds: number
  /** Seconds until one token is back (Retry-After), rounded up; 0 when allowed. */
  readonly retryAfterSeconds: number
}

export interface TokenBuckets {
  take(key: string, rate: number, burst: number, now: number): TakeResult
  /** Buckets held. */
  readonly size: number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * @example
 * const buckets = createTokenBuckets(100_000)
 * const result = buckets.take('api\0192.0.2.1', 10, 10, clock.now())
 */
export function createTokenBuckets(maxKeys: number): TokenBuckets {
  // A Map iterates in insertion order: re-inserting on use keeps the least recent first.
  const buckets = new Map<string, Bucket>()
  return {
    take(key, rate, burst, now) {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        bucket = { tokens: burst, at: now }
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next().value
          if (oldest !== undefined) buckets.delete(oldest)
        }
      } else {
        buckets.delete(key)
        bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rate)
        bucket.at = now
      }
      buckets.set(key, bucket)
      const allowed = bucket.tokens >= 1
      if (allowed) bucket.tokens -= 1
      return takeResult(allowed, bucket.tokens, rate, burst)
    },
    get size() {
      return buckets.size
    },
  }
}

/**
 * What a take tells the client, from whether it got a token and the tokens left after it:
 * the same whoever holds the bucket (this process, the primary, or Redis).
 */
export function takeResult(allowed: boolean, tokens: number, rate: number, burst: number): TakeResult {
  return {
    allowed,
    remaining: Math.floor(tokens),
    resetSeconds: Math.ceil((burst - tokens) / rate),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / rate)),
  }
}
