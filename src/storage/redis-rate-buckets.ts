/**
 * Token buckets in Redis, so a rate limit holds across every edgecache instance pointed at
 * the same Redis: one hash per bucket (`P{r/B}`: tokens left and when they were counted),
 * updated by one script, so a take is atomic and costs one round trip. Raw commands only:
 * no breaker and no fallback (limits/shared-rate-limiter.ts decides what a failure means).
 * It knows nothing of HTTP or routes: a bucket is a name, a rate and a size.
 *
 * Time is Redis's own (TIME), unlike the store's scripts, which take the instance's clock:
 * a bucket is refilled by whichever instance takes from it next, and instances whose clocks
 * disagree by a second would otherwise hand out, or withhold, a second's worth of tokens.
 */
import type { RedisConnection } from './redis-connection.ts'
import { defineLua } from './redis-connection.ts'
import type { RedisKeys } from './redis-keys.ts'

/** What one take found: whether it got a token, and the tokens left after it (fractional). */
export interface BucketTake {
  readonly allowed: boolean
  readonly tokens: number
}

export interface RedisRateBuckets {
  /**
   * Takes one token from `bucket`, which holds up to `burst` and refills at `rate` a second.
   * Rejects with EC_ERR_STORAGE_UNAVAILABLE when Redis does not answer in time.
   */
  take(bucket: string, rate: number, burst: number): Promise<BucketTake>
}

/**
 * KEYS: the bucket. ARGV: rate (tokens a second), burst. Returns {allowed (0/1), tokens
 * left as text} (a Lua number would come back truncated to an integer). A missing bucket is
 * a full one, so the key expires once it would be full again: idle clients cost nothing.
 * `redis.replicate_commands` lets a script write after TIME on Redis before 5 (where
 * scripts were replicated by their source); from Redis 7 it is a no-op.
 */
export const TAKE_TOKEN = defineLua(`
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local tokens = burst
local held = redis.call('HMGET', KEYS[1], 't', 'at')
if held[1] and held[2] then
  local elapsed = math.max(0, now - tonumber(held[2]))
  tokens = math.min(burst, tonumber(held[1]) + elapsed / 1000 * rate)
end
local allowed = 0
if tokens >= 1 then
  allowed = 1
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'at', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
return {allowed, string.format('%.17g', tokens)}
`)

/**
 * @example
 * const buckets = createRedisRateBuckets(redis, createRedisKeys('ec:'))
 * const { allowed } = await buckets.take('api\0192.0.2.1', 10, 10)
 */
export function createRedisRateBuckets(
  redis: RedisConnection,
  keys: Pick<RedisKeys, 'rateBucketKey'>,
): RedisRateBuckets {
  return {
    async take(bucket, rate, burst) {
      const reply = (await redis.eval(
        TAKE_TOKEN,
        [keys.rateBucketKey(bucket)],
        [String(rate), String(burst)],
      )) as [number, Buffer]
      return { allowed: Number(reply[0]) === 1, tokens: Number(reply[1].toString()) }
    },
  }
}
