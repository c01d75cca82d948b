/**
 * Collapsing across processes: the workers of one instance (the local store: claims held by
 * the primary) or instances (Redis: a lock per key). The in-process collapser lets one
 * request per key and process go on to fill the cache; this module makes that request claim
 * the key's fill first, so one process goes to the origin while the others wait for its
 * entry, within a bound, and then look it up.
 *
 * It fails open: with no lock capability (the memory store, or one process), with Redis
 * down or its breaker open, with the primary not answering, or when a wait passes its
 * bound, the request goes to the origin itself.
 * A wait is only ever as long as `waitMs`; a claim no holder releases ends after `ttlMs`.
 */
import type { RequestDirectives } from '../cache/request-directives.ts'
import { events, publish } from '../observability/events.ts'
import type { FillLocks, FillOutcome, FillResult } from '../storage/store.ts'
import type { FillEnd } from './collapser.ts'
import type { RequestContext } from './context.ts'

/** What the leading request of this process does next. */
export type SharedClaim =
  /**
   * Go to the origin; call `release` once the response is stored or will not be (with the
   * origin's status when it answered a failure).
   */
  | { readonly kind: 'lead'; readonly release: (result: FillResult, status?: number) => void }
  /**
   * Another instance's fill ended (or the wait gave up): look the key up again, and go to
   * the origin if nothing usable is there. `uncacheable`: its answer may not be stored, so
   * remember the key as hit-for-miss and skip the look-up; `failed` and `timed-out`: the
   * origin failed it, so answer with that failure (its status, when the holder told it)
   * rather than try again.
   */
  | { readonly kind: 'followed'; readonly outcome: FillOutcome; readonly status?: number }

export interface SharedCollapser {
  /** Claims the fill of `key` across instances, or waits for the instance that holds it. Never rejects. */
  claim(key: string): Promise<SharedClaim>
  /** Requests waiting for another instance's fill now. */
  readonly waiting: number
}

export interface SharedCollapserDeps {
  /** The store's fill locks and their settings; undefined turns collapsing across instances off. */
  readonly fills: { readonly locks: FillLocks; readonly ttlMs: number; readonly waitMs: number } | undefined
  readonly log: { warn(obj: object, msg: string): void }
}

const ALONE: SharedClaim = { kind: 'lead', release: () => {} }

/**
 * @example
 * const shared = createSharedCollapser({ fills: built.fills, log })
 * const claim = await shared.claim(key)
 */
export function createSharedCollapser(deps: SharedCollapserDeps): SharedCollapser {
  const { fills, log } = deps
  if (fills === undefined) return { claim: () => Promise.resolve(ALONE), waiting: 0 }
  const { locks, ttlMs, waitMs } = fills
  let waiting = 0
  return {
    get waiting() {
      return waiting
    },
    async claim(key) {
      let lease: Awaited<ReturnType<FillLocks['acquireFill']>>
      try {
        lease = await locks.acquireFill(key, ttlMs)
      } catch (err) {
        // Redis is down or slow: fetch without the lock rather than wait on it.
        publish(events.fillLock, { result: 'unavailable' })
        log.warn({ err }, 'fill lock unavailable, fetching without it')
        return ALONE
      }
      if (lease !== undefined) {
        publish(events.fillLock, { result: 'acquired' })
        return { kind: 'lead', release: (result, status) => void lease.release(result, status) }
      }
      waiting++
      const { outcome, status } = await locks.waitForFill(key, waitMs).finally(() => waiting--)
      publish(events.fillLock, { result: outcome })
      return { kind: 'followed', outcome, ...(status === undefined ? {} : { status }) }
    },
  }
}

/**
 * What a fill this process leads calls when it ends, when it also holds the claim across
 * processes: the other processes hear the result (with the origin's status for a failed
 * one), and this one's own waiters the whole end.
 */
export function releasingBoth(
  claim: Extract<SharedClaim, { kind: 'lead' }>,
  release: (end: FillEnd) => void,
): (end: FillEnd) => void {
  return (end) => {
    claim.release(end.result, end.result === 'failed' ? end.status : undefined)
    release(end)
  }
}

/**
 * Whether a miss is worth making other instances wait for: not when the request itself
 * forbids storing (RFC 9111 §5.2.1.5 no-store) or carries Authorization (§3.5: stored only
 * if the response says so). Their answers say nothing about what the key's next request
 * would get, and the in-process collapser does not remember them as hit-for-miss either.
 */
export function isWorthSharing(ctx: RequestContext, directives: RequestDirectives): boolean {
  return !directives.noStore && ctx.headers.authorization === undefined
}
