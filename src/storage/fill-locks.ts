/**
 * Fill locks over a shared store: one instance claims the fill of a key, the others wait
 * for its word. Waiters wake on a notice the holder publishes when it releases (pub/sub),
 * and poll the lock with backoff in case a notice is lost or there is no bus; a released
 * lock says for a moment how the fill ended, so a poll learns as much as a notice. Every Redis
 * call goes through the store's circuit breaker, and any failure ends the wait at once
 * ('unavailable'): nobody waits on a store that is down. Keys and results only, no HTTP.
 */
import type { CircuitBreaker } from './circuit-breaker.ts'
import type { RedisFillLock } from './redis-fill-lock.ts'
import type { FillLease, FillLocks, FillResult, FillWaited } from './store.ts'

/** A holder's word on how its fill of `key` ended. */
export interface FillNotice {
  readonly key: string
  readonly result: FillResult
  /** The origin's status, when it answered the failure. */
  readonly status?: number
}

/** Carries fill notices between instances (the Redis bus, on a channel of their own). */
export interface FillNotices {
  /** Sends `notice` to every other instance. */
  publishFill(notice: FillNotice): Promise<void>
  /** Delivers other instances' notices; lost ones are made up for by polling. */
  subscribeFills(onNotice: (notice: FillNotice) => void): void
}

export interface FillLocksDeps {
  readonly lock: RedisFillLock
  readonly breaker: CircuitBreaker
  /** Wake-ups on release; without them waiters only poll. */
  readonly notices?: FillNotices
  readonly log: { warn(obj: object, msg: string): void }
}

/**
 * Poll delays, ms: the first, and the cap of its doubling. With notices a poll only makes
 * up for a lost one, so it can be rare; without them it is how a waiter learns anything.
 */
const POLL_WITH_NOTICES = { firstMs: 50, maxMs: 500 }
const POLL_ONLY = { firstMs: 10, maxMs: 200 }

/**
 * @example
 * const locks = createFillLocks({ lock: redisStore.fillLock, breaker, notices: bus, log })
 * const lease = await locks.acquireFill(key, 10_000)
 * if (lease === undefined) await locks.waitForFill(key, 2_000)
 */
export function createFillLocks(deps: FillLocksDeps): FillLocks {
  const { lock, breaker, notices, log } = deps
  const poll = notices === undefined ? POLL_ONLY : POLL_WITH_NOTICES
  const waiters = new Map<string, Set<(waited: FillWaited) => void>>()

  notices?.subscribeFills((notice) => {
    const waiting = waiters.get(notice.key)
    if (waiting === undefined) return
    for (const wake of [...waiting])
      wake({ outcome: notice.result, ...(notice.status === undefined ? {} : { status: notice.status }) })
  })

  return {
    async acquireFill(key, ttlMs): Promise<FillLease | undefined> {
      const token = await breaker.run(() => lock.acquire(key, ttlMs))
      if (token === undefined) return undefined
      let released = false
      return {
        async release(result, status) {
          if (released) return
          released = true
          let ended = false
          try {
            ended = await breaker.run(() => lock.release(key, token, result))
          } catch (err) {
            // The lock expires by itself; waiters meanwhile fail open or time out.
            log.warn({ err }, 'fill lock release failed')
            return
          }
          // A lock that expired may be another instance's by now: waking its waiters to
          // say we gave up would only send them to the origin early.
          if (!ended && result === 'abandoned') return
          notices
            ?.publishFill({ key, result, ...(status === undefined ? {} : { status }) })
            .catch((err: unknown) => {
              log.warn({ err }, 'could not publish a fill notice to other instances')
            })
        },
      }
    },

    waitForFill(key, waitMs) {
      if (!(waitMs > 0)) return Promise.resolve({ outcome: 'timeout' })
      return new Promise<FillWaited>((resolve) => {
        let done = false
        let pollTimer: NodeJS.Timeout | undefined
        let delay = poll.firstMs
        // A poll learns the result the lock keeps, not the status: that only a notice carries.
        const finish = (waited: FillWaited) => {
          if (done) return
          done = true
          clearTimeout(deadline)
          clearTimeout(pollTimer)
          const waiting = waiters.get(key)
          waiting?.delete(finish)
          if (waiting?.size === 0) waiters.delete(key)
          resolve(waited)
        }
        const deadline = setTimeout(() => finish({ outcome: 'timeout' }), waitMs)
        deadline.unref()
        const check = () => {
          if (done) return
          breaker
            .run(() => lock.state(key))
            .then(
              (state) => {
                if (state !== 'held') return finish({ outcome: state === 'free' ? 'released' : state })
                delay = Math.min(delay * 2, poll.maxMs)
                if (!done) pollTimer = setTimeout(check, delay).unref()
              },
              () => finish({ outcome: 'unavailable' }),
            )
        }
        const waiting = waiters.get(key) ?? new Set()
        waiting.add(finish)
        waiters.set(key, waiting)
        pollTimer = setTimeout(check, delay).unref()
      })
    },
  }
}
