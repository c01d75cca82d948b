/**
 * The miss step: nothing usable stored, so one request per key goes to the origin. The
 * others wait for it (collapser.ts; across workers and instances, shared-collapser.ts)
 * and learn how it ended: stored (a collapsed hit), failed at the origin (the same
 * failure, at once), or given up by its own client (one waiter takes over). A key lately
 * answered uncacheable goes upstream at once (hit-for-miss).
 */
import type { RequestDirectives } from '../../cache/request-directives.ts'
import { EdgecacheError } from '../../errors.ts'
import type { RequestKeys } from '../../router/cache-key.ts'
import type { Answer } from '../answer.ts'
import type { FillEnd } from '../collapser.ts'
import type { Next } from '../compose.ts'
import { forwardOf, type RequestContext } from '../context.ts'
import { isWorthSharing, releasingBoth, type SharedCollapser } from '../shared-collapser.ts'
import { deliverFetched, type Fill, fillRequest, makeFill, releasedBy } from './deliver.ts'
import type { Lookup } from './entries.ts'
import { collapsedHit } from './hit.ts'
import { foundStored } from './lookup.ts'
import { type CacheMachine, noop } from './machine.ts'
import { collapsedFailure } from './synth.ts'

export type Missed = Extract<Lookup, { kind: 'miss' }>

export async function miss(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  keys: RequestKeys,
  directives: RequestDirectives,
  missed: Missed,
): Promise<Answer> {
  const { key } = keys
  const { collapser, sharedCollapser } = m
  const fillWith = (release: (end: FillEnd) => void) =>
    makeFill(ctx, keys, directives, missed.reason, missed.marker, release, undefined)
  // Known not to be storable lately: nothing to wait for, so no collapsing.
  if (m.passMemory.has(key)) return fetchAndStore(m, fillWith(noop), next)
  const waitUntil = performance.now() + m.deps.collapseTimeoutMs
  let found: Lookup = missed
  for (;;) {
    const release = collapser.lead(key)
    if (release !== undefined) {
      if (sharedCollapser !== undefined && isWorthSharing(ctx, directives)) {
        return fetchOnceAcrossInstances(m, sharedCollapser, fillWith(release), next)
      }
      return fetchAndStore(m, fillWith(release), next)
    }
    // Another request is fetching this key: stream its fill when it shares one, or wait
    // for it to end and look again.
    let end = await collapser.follow(key, waitUntil - performance.now())
    if (end?.result === 'streaming') {
      const joined = end.join(ctx)
      if (joined !== undefined) return joined
      end = await collapser.follow(key, waitUntil - performance.now(), true)
    }
    if (end?.result === 'streaming') continue
    if (end?.result === 'failed' || end?.result === 'timed-out')
      return collapsedFailure(m, ctx, end, missed.reason)
    found = await m.entries.lookup(key, ctx.headers)
    const hit = collapsedHit(m, ctx, found, directives, missed.reason)
    if (hit !== undefined) return hit
    // Its client went away before the origin answered: one waiter takes the fill over,
    // the others wait for that one, within the time left.
    if (end?.result === 'abandoned' && found.kind === 'miss' && performance.now() < waitUntil) continue
    break
  }
  // Stored, but not fresh for this request: what the lookup step does with any stored response.
  if (found.kind === 'found') return foundStored(m, ctx, next, keys, directives, found.found)
  // Nothing stored in time: fetch it ourselves.
  return fetchAndStore(m, makeFill(ctx, keys, directives, found.reason, found.marker, noop, undefined), next)
}

/** Goes upstream for a full response and delivers it, stored if allowed. */
export async function fetchAndStore(m: CacheMachine, fill: Fill, next: Next): Promise<Answer> {
  const requestTime = m.clock.now()
  let answer: Answer
  const [request, unlink] = outlivingItsClient(fillRequest(fill.ctx), m.passMemory.has(fill.key))
  try {
    answer = await next(request)
  } catch (err) {
    fill.release(failureOf(fill.ctx, err))
    throw err
  } finally {
    unlink()
  }
  return deliverFetched(m, fill, answer, requestTime, m.clock.now())
}

/**
 * How a fill that threw ended, for the requests waiting on it: its own client going away
 * is the fill's failure (one waiter takes over); anything else is the origin's, which the
 * waiters answer with too.
 */
export function failureOf(ctx: RequestContext, err: unknown): FillEnd {
  if (ctx.signal.aborted) return { result: 'abandoned' }
  const timedOut = err instanceof EdgecacheError && err.status === 504
  return { result: timedOut ? 'timed-out' : 'failed', error: err }
}

/**
 * The miss this process leads, when other processes share the store: claims the key's
 * fill and fetches, or waits for the process holding it and serves what that one stored.
 * `fill.release` ends this process's own collapsing.
 */
async function fetchOnceAcrossInstances(
  m: CacheMachine,
  shared: SharedCollapser,
  fill: Fill,
  next: Next,
): Promise<Answer> {
  const { ctx, key, release } = fill
  const claim = await shared.claim(key)
  if (claim.kind === 'lead') return fetchAndStore(m, releasedBy(fill, releasingBoth(claim, release)), next)
  if (claim.outcome === 'failed' || claim.outcome === 'timed-out') {
    // The origin failed the other process's fill: answer the same way (its 5xx, when that
    // process told it), and so do this process's own waiters, rather than send the herd
    // to a failing origin.
    const error = new EdgecacheError(
      claim.outcome === 'failed' ? 'EC_ERR_UPSTREAM_FAILED_COLLAPSED' : 'EC_ERR_UPSTREAM_TIMEOUT',
    )
    const end = { result: claim.outcome, error, status: claim.status }
    release(end)
    return collapsedFailure(m, ctx, end, fill.fwd)
  }
  if (claim.outcome === 'uncacheable') {
    // Its answer may not be stored: go upstream at once, and so will the next requests.
    m.passMemory.remember(key)
    return fetchAndStore(m, fill, next)
  }
  const again = await m.entries.lookup(key, ctx.headers)
  const hit = collapsedHit(m, ctx, again, fill.directives, fill.fwd)
  if (hit !== undefined) {
    release({ result: 'stored' })
    return hit
  }
  // Nothing fresh stored (the bound passed, or the fill failed): fetch it ourselves.
  const refetch =
    again.kind === 'miss'
      ? makeFill(ctx, fill, fill.directives, again.reason, again.marker, release, fill.replacing)
      : fill
  return fetchAndStore(m, refetch, next)
}

/**
 * The fill request with a signal of its own, and the function that unlinks it from the
 * client's: the client going away aborts the fill request only until the origin's header
 * section arrives. After that the fill reads on at the origin's pace (fill-body.ts) and
 * gives the request up itself when nobody stores or reads the body. A key known to be
 * uncacheable keeps the client's signal: its answer will only be passed on, and an
 * AbortController per request is not worth its cost there.
 */
export function outlivingItsClient(
  request: RequestContext,
  uncacheable: boolean,
): [RequestContext, () => void] {
  const client = request.signal
  if (uncacheable || client.aborted) return [request, noop]
  const own = new AbortController()
  const onAbort = () => own.abort(client.reason)
  client.addEventListener('abort', onAbort, { once: true })
  return [forwardOf(request, { signal: own.signal }), () => client.removeEventListener('abort', onAbort)]
}
