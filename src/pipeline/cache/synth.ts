/**
 * The synth step: answers edgecache makes up itself rather than deliver from the origin or
 * the store, with the Cache-Status that says why.
 */
import type { ForwardReason } from '../../cache/cache-status.ts'
import { EdgecacheError } from '../../errors.ts'
import { type Answer, refusalAnswer } from '../answer.ts'
import type { FillEnd } from '../collapser.ts'
import type { RequestContext } from '../context.ts'
import type { CacheMachine } from './machine.ts'

/** RFC 9111 §5.2.1.7: only-if-cached and nothing usable stored. */
export function onlyIfCached(ctx: RequestContext, cacheStatus: string): Answer {
  ctx.facts.cache = 'miss'
  const err = new EdgecacheError('EC_ERR_CACHE_ONLY_IF_CACHED')
  return refusalAnswer(ctx.id, err.status ?? 504, err.message, {
    'cache-status': cacheStatus,
  })
}

/**
 * The fill this request waited for failed at the origin: the same failure, at once. A
 * thrown error is thrown again (the error boundary answers 502 or 504); a 5xx the origin
 * answered is told with its status, not its body, which was another request's.
 */
export function collapsedFailure(
  m: CacheMachine,
  ctx: RequestContext,
  end: Extract<FillEnd, { result: 'failed' | 'timed-out' }>,
  fwd: ForwardReason,
): Answer {
  ctx.facts.collapsed = true
  ctx.facts.cacheStatus = m.status({ fwd, collapsed: true, detail: 'upstream-error' })
  if (end.status === undefined) throw end.error ?? new EdgecacheError('EC_ERR_UPSTREAM_FAILED_COLLAPSED')
  ctx.facts.cache = 'pass'
  const err = new EdgecacheError('EC_ERR_UPSTREAM_FAILED_COLLAPSED')
  return refusalAnswer(ctx.id, end.status, err.message, {
    'cache-status': m.status({ fwd, fwdStatus: end.status, collapsed: true }),
  })
}
