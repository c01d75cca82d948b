/**
 * Rate limits shared by the workers of one host: the primary holds the token buckets, and a
 * worker asks it for a token over the cluster IPC channel, as fill claims do
 * (storage/worker-fill-locks.ts). The round trip costs tens of microseconds and only
 * requests of rate-limited routes make it. If the primary does not answer within a second,
 * the worker decides from buckets of its own: limits then hold per worker until it answers.
 */
import type { Worker } from 'node:cluster'
import type { Clock } from '../clock.ts'
import { createLocalRateLimiter, MAX_BUCKETS, type RateLimiter, type TakeResult } from './rate-limiter.ts'
import { createTokenBuckets } from './token-buckets.ts'

export type RateLimitMessage =
  | {
      readonly type: 'edgecache:rate-take'
      readonly id: number
      readonly key: string
      readonly rate: number
      readonly burst: number
    }
  | { readonly type: 'edgecache:rate-taken'; readonly id: number; readonly result: TakeResult }

function isRateLimitMessage(message: unknown): message is RateLimitMessage {
  const type = (message as { type?: unknown } | null)?.type
  return type === 'edgecache:rate-take' || type === 'edgecache:rate-taken'
}

const ANSWER_TIMEOUT_MS = 1_000

/**
 * The worker's side. `send` and `onMessage` are the worker's process channel.
 *
 * @example
 * const limiter = createClusterRateLimiter((m) => process.send?.(m), (f) => process.on('message', f), clock)
 */
export function createClusterRateLimiter(
  send: (message: RateLimitMessage) => void,
  onMessage: (listener: (message: unknown) => void) => void,
  clock: Clock,
): RateLimiter {
  const fallback = createLocalRateLimiter(clock)
  const pending = new Map<number, (result: TakeResult) => void>()
  let nextId = 0
  onMessage((message) => {
    if (!isRateLimitMessage(message) || message.type !== 'edgecache:rate-taken') return
    const resolve = pending.get(message.id)
    pending.delete(message.id)
    resolve?.(message.result)
  })
  return {
    take(key, rate, burst) {
      const id = nextId++
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          resolve(fallback.take(key, rate, burst))
        }, ANSWER_TIMEOUT_MS)
        timer.unref()
        pending.set(id, (result) => {
          clearTimeout(timer)
          resolve(result)
        })
        send({ type: 'edgecache:rate-take', id, key, rate, burst })
      })
    },
  }
}

/** What the primary needs of node:cluster. */
export interface RateLimitCluster {
  on(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown
}

/**
 * The primary's side: one set of buckets for every worker. Rate and burst come with each
 * request, so a route file reloaded in the workers needs nothing here.
 */
export function serveRateLimits(cluster: RateLimitCluster, clock: Clock): void {
  const buckets = createTokenBuckets(MAX_BUCKETS)
  cluster.on('message', (worker, message) => {
    if (!isRateLimitMessage(message) || message.type !== 'edgecache:rate-take') return
    const result = buckets.take(message.key, message.rate, message.burst, clock.now())
    if (worker.isConnected()) worker.send({ type: 'edgecache:rate-taken', id: message.id, result })
  })
}
