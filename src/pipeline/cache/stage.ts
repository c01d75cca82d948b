/**
 * The cache stage: runs the cache's steps for each request (machine.ts says what they
 * share). A GET or HEAD is looked up (lookup.ts) and answered from the store (hit.ts), by
 * a conditional request (revalidate.ts) or by one collapsed fetch (miss.ts), delivered
 * from the origin (deliver.ts, fill-body.ts) or the store (stored-answer.ts), or made up
 * (synth.ts); other methods and routes that bypass the cache pass (pass.ts). A hit this
 * process holds is answered without a single await.
 */
import { type CacheStatusParams, formatCacheStatus } from '../../cache/cache-status.ts'
import { decide } from '../../cache/freshness.ts'
import type { Answer } from '../answer.ts'
import type { Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'
import { createPassMemory } from '../pass-memory.ts'
import { createCacheEntries, type Lookup } from './entries.ts'
import { FillMemory } from './fill-body.ts'
import { hit } from './hit.ts'
import { type CacheRequest, cacheRequestOf, lookup, lookupHere } from './lookup.ts'
import type { CacheMachine, CacheStageDeps } from './machine.ts'
import { bypass, otherMethod } from './pass.ts'

export type { CacheStageDeps, CacheStageLog } from './machine.ts'

/** Uncacheable keys remembered at most, and for how long (Varnish keeps hit-for-miss 120 s). */
const PASS_MEMORY_KEYS = 10_000
const PASS_MEMORY_MS = 30_000

/**
 * @example
 * const stage = createCacheStage({ store, clock: systemClock, collapser: createCollapser(), log,
 *   name: 'edgecache', maxObjectBytes: 8 << 20, collapseTimeoutMs: 30_000, admission })
 */
export function createCacheStage(deps: CacheStageDeps): Stage {
  const m: CacheMachine = {
    deps,
    clock: deps.clock,
    collapser: deps.collapser,
    sharedCollapser: deps.sharedCollapser,
    log: deps.log,
    entries: createCacheEntries(deps),
    passMemory: createPassMemory(PASS_MEMORY_KEYS, PASS_MEMORY_MS, deps.clock),
    fillMemory: deps.fillMemory ?? new FillMemory(() => 128 << 20),
    refreshing: new Set(),
    // The name is read at each use: a reload may change it.
    status: (p: CacheStatusParams) => formatCacheStatus(deps.name, p),
  }

  return {
    name: 'cache',
    handle(ctx, next) {
      if (ctx.facts.policy.bypass) return withErrorStatus(m, ctx, bypass(m, ctx, next))
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD')
        return withErrorStatus(m, ctx, otherMethod(m, ctx, next))
      let request: CacheRequest
      let here: Lookup | undefined
      try {
        request = cacheRequestOf(m, ctx)
        // A hit this process holds is answered without a single await: most requests to a
        // cache are hits, and each promise and microtask on their path costs.
        here = lookupHere(m, ctx, request)
        if (here?.kind === 'found') {
          const verdict = decide(here.found.response, request.directives, m.clock.now())
          if (verdict.kind !== 'revalidate') {
            return Promise.resolve(hit(m, ctx, next, request.keys, here.found, verdict))
          }
        }
      } catch (err) {
        return Promise.reject(err)
      }
      return withErrorStatus(m, ctx, lookup(m, ctx, next, request, here))
    },
  }
}

/** `answer`, with Cache-Status kept for the error boundary's 502/504 when it fails. */
function withErrorStatus(m: CacheMachine, ctx: RequestContext, answer: Promise<Answer>): Promise<Answer> {
  return answer.catch((err: unknown) => {
    const fwd = ctx.facts.policy.bypass
      ? 'bypass'
      : ctx.method === 'GET' || ctx.method === 'HEAD'
        ? 'miss'
        : 'method'
    ctx.facts.cacheStatus ??= m.status({ fwd, detail: 'upstream-error' })
    throw err
  })
}
