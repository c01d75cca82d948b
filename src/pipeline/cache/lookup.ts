/**
 * The lookup step: the request's keys and directives, then what the store holds for them,
 * and the next step: hit (a usable stored response), revalidate (a stored response the
 * origin must confirm), miss (nothing stored), parts (one range, on a route that keeps
 * parts: parts.ts), or synth (only-if-cached and nothing usable). A hit this process holds
 * is found without an await (lookupHere).
 */
import { decide } from '../../cache/freshness.ts'
import {
  parseRequestDirectives,
  type RequestDirectives,
  withoutRefresh,
} from '../../cache/request-directives.ts'
import { type RequestKeys, requestKeys } from '../../router/cache-key.ts'
import type { Answer } from '../answer.ts'
import type { Next } from '../compose.ts'
import type { RequestContext } from '../context.ts'
import type { Found, Lookup } from './entries.ts'
import { hit } from './hit.ts'
import type { CacheMachine } from './machine.ts'
import { miss } from './miss.ts'
import { partsRange, rangeMiss } from './parts.ts'
import { revalidate } from './revalidate.ts'
import { onlyIfCached } from './synth.ts'

/** What the cache goes by for one GET or HEAD. */
export interface CacheRequest {
  readonly keys: RequestKeys
  readonly directives: RequestDirectives
}

export function cacheRequestOf(m: CacheMachine, ctx: RequestContext): CacheRequest {
  // The one key function (router/cache-key.ts), under the route's key rules.
  const keys = requestKeys(ctx.scheme, ctx.host, ctx.target, ctx.headers, ctx.facts.policy.key)
  const cacheControl = ctx.headers['cache-control']
  let directives = parseRequestDirectives(cacheControl, ctx.headers.pragma)
  // Asked only of a request that carries directives: most carry none.
  const carries = cacheControl !== undefined || ctx.headers.pragma !== undefined
  if (carries && m.deps.honoursRequestDirectives?.(ctx) === false) directives = withoutRefresh(directives)
  return { keys, directives }
}

/**
 * What the store holds for the request in this process, without I/O; undefined when only
 * `lookup` can say (see CacheEntries.lookupHere).
 */
export function lookupHere(m: CacheMachine, ctx: RequestContext, request: CacheRequest): Lookup | undefined {
  return m.entries.lookupHere(request.keys.key, ctx.headers)
}

/**
 * Looks the request up in the store (unless `here` already says what it holds) and takes
 * the next step.
 */
export async function lookup(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  request: CacheRequest,
  here: Lookup | undefined,
): Promise<Answer> {
  const { keys, directives } = request
  if (here?.kind === 'found') return foundStored(m, ctx, next, keys, directives, here.found)
  const found = here ?? (await m.entries.lookup(keys.key, ctx.headers))
  if (found.kind === 'found') return foundStored(m, ctx, next, keys, directives, found.found)
  // A route that keeps parts: one range is answered from them, or fetched on its own (parts.ts).
  const range = partsRange(m, ctx)
  if (range !== undefined) return rangeMiss(m, ctx, next, keys, directives, found, range)
  // RFC 9111 §5.2.1.7: only-if-cached and nothing stored.
  if (directives.onlyIfCached)
    return onlyIfCached(ctx, m.status({ fwd: found.reason, detail: 'only-if-cached' }))
  return miss(m, ctx, next, keys, directives, found)
}

/** A stored response for the request: a hit when the verdict allows it, else a revalidation. */
export function foundStored(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  keys: RequestKeys,
  directives: RequestDirectives,
  found: Found,
): Answer | Promise<Answer> {
  const verdict = decide(found.response, directives, m.clock.now())
  if (verdict.kind !== 'revalidate') return hit(m, ctx, next, keys, found, verdict)
  if (directives.onlyIfCached) {
    return onlyIfCached(
      ctx,
      m.status({ fwd: verdict.reason, ttlMs: verdict.ttlMs, detail: 'only-if-cached' }),
    )
  }
  return revalidate(m, ctx, next, keys, found, verdict, directives)
}
