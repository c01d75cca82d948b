/**
 * The hit step: a stored response the freshness verdict lets edgecache send, fresh or
 * stale where that is allowed (max-stale, stale-while-revalidate, stale-if-error), and the
 * one another request's fill stored while this one waited. No await: most requests to a
 * cache are hits, and every promise on their path costs.
 */
import type { CacheStatusParams, ForwardReason } from '../../cache/cache-status.ts'
import { decide, ttlMs, type Verdict } from '../../cache/freshness.ts'
import type { RequestDirectives } from '../../cache/request-directives.ts'
import type { RequestKeys } from '../../router/cache-key.ts'
import type { Answer } from '../answer.ts'
import type { Next } from '../compose.ts'
import type { RequestContext } from '../context.ts'
import type { Found, Lookup } from './entries.ts'
import type { CacheMachine } from './machine.ts'
import { refreshInBackground } from './revalidate.ts'
import { answerFromStored } from './stored-answer.ts'

export type UsableVerdict = Exclude<Verdict, { kind: 'revalidate' }>

/** A stored response the verdict lets us send: fresh, or stale where that is allowed. */
export function hit(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  keys: RequestKeys,
  found: Found,
  verdict: UsableVerdict,
): Answer {
  switch (verdict.kind) {
    case 'fresh':
      return fromCache(m, ctx, found, verdict, {})
    case 'stale-allowed':
      return fromCache(m, ctx, found, verdict, { detail: 'max-stale' })
    case 'stale-while-revalidate':
      refreshInBackground(m, ctx, next, keys, found, verdict.ttlMs)
      return fromCache(m, ctx, found, verdict, { detail: 'stale-while-revalidate' })
  }
}

/** A fresh response another request's fetch stored while this one waited (RFC 9211 §2.6 collapsed). */
export function collapsedHit(
  m: CacheMachine,
  ctx: RequestContext,
  again: Lookup,
  directives: RequestDirectives,
  fwd: ForwardReason,
): Answer | undefined {
  if (again.kind !== 'found') return undefined
  const verdict = decide(again.found.response, directives, m.clock.now())
  if (verdict.kind !== 'fresh') return undefined
  ctx.facts.collapsed = true
  return fromCache(m, ctx, again.found, verdict, { collapsed: true, fwd })
}

/**
 * A stale response standing in for an origin that failed: within stale-if-error (RFC 5861
 * §4), or, when the origin could not be reached at all, within the disconnected grace
 * (RFC 9111 §4.2.4). Cache-Status says which.
 */
export function staleOnError(
  m: CacheMachine,
  ctx: RequestContext,
  found: Found,
  fwdStatus: number | undefined,
  detail: 'stale-if-error' | 'disconnected' = 'stale-if-error',
): Answer {
  const now = m.clock.now()
  ctx.facts.cache = 'stale'
  return (m.deps.encodings?.deliver ?? answerFromStored)({
    ctx,
    response: found.response,
    body: found.body,
    ageMs: found.response.initialAgeMs + (now - found.response.responseTime),
    cacheStatus: m.status({
      fwd: 'stale',
      fwdStatus,
      ttlMs: ttlMs(found.response, now),
      detail,
    }),
    revalidated: false,
  })
}

function fromCache(
  m: CacheMachine,
  ctx: RequestContext,
  found: Found,
  verdict: UsableVerdict,
  extra: { detail?: string; collapsed?: boolean; fwd?: ForwardReason },
): Answer {
  const stale = verdict.kind !== 'fresh'
  ctx.facts.cache = stale ? 'stale' : 'hit'
  const params: CacheStatusParams =
    extra.collapsed === true
      ? { fwd: extra.fwd, fwdStatus: found.response.status, collapsed: true, ttlMs: verdict.ttlMs }
      : { hit: true, ttlMs: verdict.ttlMs, detail: extra.detail }
  return (m.deps.encodings?.deliver ?? answerFromStored)({
    ctx,
    response: found.response,
    body: found.body,
    ageMs: verdict.ageMs,
    cacheStatus: m.status(params),
    revalidated: false,
  })
}
