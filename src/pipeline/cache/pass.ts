/**
 * The pass step: requests the cache neither answers nor stores. A route that bypasses the
 * cache, and methods other than GET and HEAD, go to the origin as they are; an unsafe one
 * that succeeds invalidates what the cache holds for its URL (RFC 9111 §4.4).
 */
import { afterCacheStatus } from '../../cache/cache-status.ts'
import { invalidatedKeys, isUnsafeMethod } from '../../cache/invalidation.ts'
import type { Answer } from '../answer.ts'
import type { Next } from '../compose.ts'
import type { RequestContext } from '../context.ts'
import { cleanTargeted } from './deliver.ts'
import type { CacheMachine } from './machine.ts'

/** The route says never to cache: no lookup, no store, no collapsing. */
export async function bypass(m: CacheMachine, ctx: RequestContext, next: Next): Promise<Answer> {
  const answer = await next(ctx)
  ctx.facts.cache = 'bypass'
  cleanTargeted(m, answer)
  answer.headers['cache-status'] = afterCacheStatus(
    answer.headers['cache-status'],
    m.status({ fwd: 'bypass', fwdStatus: answer.status, detail: 'route-policy' }),
  )
  return answer
}

/** Methods the cache neither answers nor stores: unsafe ones invalidate (RFC 9111 §4.4). */
export async function otherMethod(m: CacheMachine, ctx: RequestContext, next: Next): Promise<Answer> {
  if (isUnsafeMethod(ctx.method)) return unsafe(m, ctx, next)
  const answer = await next(ctx)
  ctx.facts.cache = 'pass'
  answer.headers['cache-status'] = afterCacheStatus(
    answer.headers['cache-status'],
    m.status({ fwd: 'method', fwdStatus: answer.status }),
  )
  return answer
}

async function unsafe(m: CacheMachine, ctx: RequestContext, next: Next): Promise<Answer> {
  const answer = await next(ctx)
  ctx.facts.cache = 'pass'
  const urlKeyOf = m.deps.urlKeyOf
  // The keys a GET for each URL is stored under: the one key function (router/cache-key.ts).
  const keyOf =
    urlKeyOf === undefined ? undefined : (target: string) => urlKeyOf(ctx.scheme, ctx.host, target)
  const keys = invalidatedKeys(
    ctx.method,
    answer.status,
    ctx.scheme,
    ctx.host,
    ctx.target,
    answer.headers,
    keyOf,
  )
  // RFC 9111 §4.4; purging the URL's tag reaches every Vary variant, and a fill that
  // started before this write cannot store its older response afterwards.
  await m.entries.purgeUrls(keys)
  cleanTargeted(m, answer)
  answer.headers['cache-status'] = afterCacheStatus(
    answer.headers['cache-status'],
    m.status({ fwd: 'method', fwdStatus: answer.status }),
  )
  return answer
}
