/**
 * The revalidate step (RFC 9111 §4.3): asks the origin whether a stored response is still
 * good, with its validators; a 304 refreshes it, anything else is delivered as a fresh
 * fetch. One conditional request per stored response at a time: the others wait for it.
 * Also the background refresh of stale-while-revalidate (RFC 5861 §3).
 */
import type { ForwardReason } from '../../cache/cache-status.ts'
import { ttlMs, type Verdict } from '../../cache/freshness.ts'
import { parseRequestDirectives, type RequestDirectives } from '../../cache/request-directives.ts'
import { conditionalFields, hasValidator, refreshDue, updateFromNotModified } from '../../cache/revalidate.ts'
import { EdgecacheError } from '../../errors.ts'
import { events, publish } from '../../observability/events.ts'
import type { RequestKeys } from '../../router/cache-key.ts'
import type { Answer } from '../answer.ts'
import type { FillEnd } from '../collapser.ts'
import type { Next } from '../compose.ts'
import { createFacts, forwardOf, type RequestContext } from '../context.ts'
import { isWorthSharing, releasingBoth } from '../shared-collapser.ts'
import { deliverFetched, discard, fillRequest, isStream, makeFill } from './deliver.ts'
import type { Found } from './entries.ts'
import { collapsedHit, staleOnError } from './hit.ts'
import { type CacheMachine, noop } from './machine.ts'
import { failureOf, fetchAndStore } from './miss.ts'
import { answerFromStored } from './stored-answer.ts'
import { collapsedFailure } from './synth.ts'

export type RevalidateVerdict = Extract<Verdict, { kind: 'revalidate' }>

/** One request's revalidation of a stored response, as the steps below hand it on. */
interface Revalidation {
  readonly m: CacheMachine
  readonly ctx: RequestContext
  readonly next: Next
  readonly keys: RequestKeys
  readonly found: Found
  readonly verdict: RevalidateVerdict
  readonly directives: RequestDirectives
}

export async function revalidate(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  keys: RequestKeys,
  found: Found,
  verdict: RevalidateVerdict,
  directives: RequestDirectives,
): Promise<Answer> {
  const r: Revalidation = { m, ctx, next, keys, found, verdict, directives }
  const release = m.collapser.lead(found.key)
  if (release !== undefined) return revalidateAcross(r, release)
  const waitUntil = performance.now() + m.deps.collapseTimeoutMs
  let end = await m.collapser.follow(found.key, m.deps.collapseTimeoutMs)
  if (end?.result === 'streaming') {
    // The origin sent a new response, which the fill is storing: stream it.
    const joined = end.join(ctx)
    if (joined !== undefined) return joined
    end = await m.collapser.follow(found.key, waitUntil - performance.now(), true)
  }
  // Still streaming at the end of the wait: as if the wait gave up.
  return afterOthers(r, end?.result === 'streaming' ? undefined : end, noop)
}

/**
 * The revalidation this process leads. With other processes on the same store, one of
 * them at a time asks the origin (the fill locks misses take, on the stored response's
 * key); the others answer from what it stored, or with its failure.
 */
async function revalidateAcross(r: Revalidation, release: (end: FillEnd) => void): Promise<Answer> {
  const shared = r.m.sharedCollapser
  if (shared === undefined || !isWorthSharing(r.ctx, r.directives)) return revalidateOnce(r, release)
  const claim = await shared.claim(r.found.key)
  if (claim.kind === 'lead') return revalidateOnce(r, releasingBoth(claim, release))
  // A 5xx the origin answered is answered the same way here. A failure without one (the
  // origin refused, reset or timed out) is asked again from here: which it was, and so
  // whether the grace for a disconnected origin applies, only that process knows.
  const answered = claim.outcome === 'failed' && claim.status !== undefined
  const end: FillEnd | undefined = answered ? { result: 'failed', status: claim.status } : undefined
  return afterOthers(r, end, release)
}

/**
 * Another request's revalidation of the stored response has ended (`end`, undefined when
 * the wait gave up): answer from what it stored, or with its failure, or revalidate now.
 * `release` tells this process's own waiters, when this request leads them.
 */
async function afterOthers(
  r: Revalidation,
  end: FillEnd | undefined,
  release: (end: FillEnd) => void,
): Promise<Answer> {
  const { m, ctx, found, verdict } = r
  const again = await m.entries.lookup(r.keys.key, ctx.headers)
  const hit = collapsedHit(m, ctx, again, r.directives, verdict.reason)
  if (hit !== undefined) {
    release({ result: 'stored' })
    return hit
  }
  if (end?.result === 'failed' || end?.result === 'timed-out') {
    release(end)
    // RFC 5861 §4: the origin failed the revalidation this one waited for.
    if (verdict.staleIfError) return staleOnError(m, ctx, found, end.status)
    if (end.status === undefined && isDisconnection(end.error) && graceAllows(m, ctx, verdict)) {
      return staleOnError(m, ctx, found, undefined, 'disconnected')
    }
    return collapsedFailure(m, ctx, end, verdict.reason)
  }
  return revalidateOnce(r, release)
}

async function revalidateOnce(r: Revalidation, release: (end: FillEnd) => void): Promise<Answer> {
  const { m, ctx, next, keys, found, verdict, directives } = r
  const { clock } = m
  const fwd: ForwardReason = verdict.reason
  const fill = makeFill(ctx, keys, directives, fwd, found.marker, release, found.key)
  const requestTime = clock.now()
  let answer: Answer
  try {
    answer = await next(
      fillRequest(ctx, hasValidator(found.response) ? conditionalFields(found.response) : undefined),
    )
  } catch (err) {
    release(failureOf(ctx, err))
    // RFC 5861 §4: stale-if-error lets a stale response stand in for a failed origin.
    if (verdict.staleIfError) return staleOnError(m, ctx, found, undefined)
    if (isDisconnection(err) && graceAllows(m, ctx, verdict)) {
      return staleOnError(m, ctx, found, undefined, 'disconnected')
    }
    throw err
  }
  const responseTime = clock.now()
  if (answer.status >= 500 && verdict.staleIfError) {
    release({ result: 'failed', status: answer.status })
    discard(answer)
    return staleOnError(m, ctx, found, answer.status)
  }
  if (answer.status === 304) {
    const refreshed = notModified(m, ctx, found, answer, requestTime, responseTime)
    if (refreshed === undefined) return fetchAndStore(m, fill, next)
    const { response: updated, notStorable } = refreshed
    let cacheStatus: string
    if (notStorable === undefined) {
      await m.entries
        .storeRefreshed(found, updated, requestTime, ctx)
        .finally(() => release({ result: 'stored' }))
      ctx.facts.cache = 'revalidated'
      cacheStatus = m.status({ fwd, fwdStatus: 304, stored: true, ttlMs: ttlMs(updated, responseTime) })
    } else {
      // Its new fields forbid storing it (RFC 9111 §3): answered this once, and the stored
      // copy must not be served again.
      await m.entries.delete(found.key).finally(() => release({ result: 'abandoned' }))
      ctx.facts.cache = 'pass'
      publish(events.cacheNotStored, { reason: notStorable })
      cacheStatus = m.status({ fwd, fwdStatus: 304, detail: notStorable })
    }
    const out = (m.deps.encodings?.deliver ?? answerFromStored)({
      ctx,
      response: updated,
      body: found.body,
      ageMs: updated.initialAgeMs,
      cacheStatus,
      revalidated: true,
    })
    // The 304's cookie is this client's, though the stored copy leaves it out.
    const setCookie = answer.headers['set-cookie']
    if (setCookie !== undefined && updated.headers['set-cookie'] === undefined)
      out.headers['set-cookie'] = setCookie
    return out
  }
  return deliverFetched(m, fill, answer, requestTime, responseTime)
}

/**
 * Failures that mean the origin could not be reached (RFC 9111 §4.2.4 "disconnected"):
 * refused, reset or closed, timed out, or no server of the pool available. An answer, even
 * a 5xx or an invalid one, is not a disconnection.
 */
const DISCONNECTED: ReadonlySet<string> = new Set([
  'EC_ERR_UPSTREAM_CONNECT',
  'EC_ERR_UPSTREAM_RESET',
  'EC_ERR_UPSTREAM_TIMEOUT',
  'EC_ERR_UPSTREAM_UNAVAILABLE',
])

function isDisconnection(err: unknown): boolean {
  return err instanceof EdgecacheError && DISCONNECTED.has(err.code)
}

/**
 * RFC 9111 §4.2.4: a cache that cannot reach the origin may serve a stale response unless
 * the response forbids it; edgecache does so for at most the grace past its freshness
 * (`cache.staleIfDisconnected`, or the route's), as Varnish's grace does.
 */
function graceAllows(m: CacheMachine, ctx: RequestContext, verdict: RevalidateVerdict): boolean {
  return verdict.mayServeStale && -verdict.ttlMs <= m.entries.graceOf(ctx)
}

/** RFC 9111 §4.3.4: the stored response a 304 refreshes, or undefined when it does not select it. */
function notModified(
  m: CacheMachine,
  ctx: RequestContext,
  found: Found,
  answer: Answer,
  requestTime: number,
  responseTime: number,
) {
  discard(answer)
  return updateFromNotModified(
    found.response,
    answer.headers,
    requestTime,
    responseTime,
    m.deps.admission,
    ctx.facts.policy,
  )
}

/**
 * RFC 5861 §3: refreshes `found` in the background, at most one refresh per key at a time,
 * and one that arrived stale at most every `cache.refreshInterval` (refreshDue).
 */
export function refreshInBackground(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  keys: RequestKeys,
  found: Found,
  verdictTtlMs: number,
): void {
  const { refreshing, clock, entries } = m
  if (refreshing.has(found.key)) return
  const interval = m.deps.refreshIntervalMs ?? 0
  if (!refreshDue(found.response, verdictTtlMs, clock.now(), interval, found.invalidatedAt)) return
  refreshing.add(found.key)
  const headers = hasValidator(found.response) ? conditionalFields(found.response) : undefined
  const background = forwardOf(fillRequest(ctx, headers), {
    body: undefined,
    signal: new AbortController().signal,
  })
  // No client waits on a background refresh: nothing goes to it, 1xx included.
  const bgCtx: RequestContext = { ...background, interim: undefined, facts: createFacts() }
  bgCtx.facts.route = ctx.facts.route
  bgCtx.facts.tags = ctx.facts.tags
  bgCtx.facts.policy = ctx.facts.policy
  const requestTime = clock.now()
  const done = () => refreshing.delete(found.key)
  next(bgCtx)
    .then((answer) => {
      const responseTime = clock.now()
      if (answer.status === 304) {
        const refreshed = notModified(m, bgCtx, found, answer, requestTime, responseTime)
        if (refreshed === undefined) return done()
        if (refreshed.notStorable !== undefined) {
          // Its new fields forbid storing it: the stored copy goes.
          publish(events.backgroundRevalidation, { result: 'not-storable' })
          publish(events.cacheNotStored, { reason: refreshed.notStorable })
          return entries.delete(found.key).then(done)
        }
        publish(events.backgroundRevalidation, { result: 'not-modified' })
        return entries.storeRefreshed(found, refreshed.response, requestTime, bgCtx).then(done)
      }
      if (answer.status >= 500) {
        // Keep serving what we have; the next stale hit tries again.
        publish(events.backgroundRevalidation, { result: 'failed' })
        discard(answer)
        return done()
      }
      const directives = parseRequestDirectives(undefined, undefined)
      const fill = makeFill(bgCtx, keys, directives, 'stale', found.marker, done, found.key)
      const out = deliverFetched(m, fill, answer, requestTime, responseTime)
      publish(events.backgroundRevalidation, {
        result: bgCtx.facts.cache === 'miss' ? 'updated' : 'not-storable',
      })
      if (out.body !== undefined && isStream(out.body)) out.body.resume()
    })
    .catch((err: unknown) => {
      publish(events.backgroundRevalidation, { result: 'failed' })
      done()
      m.log.warn({ err, reqId: ctx.id }, 'background revalidation failed')
    })
}
