/**
 * The cache stage: answers from the store when RFC 9111 lets it (at once, without an await,
 * for a hit this process holds), revalidates, refreshes stale entries in the background,
 * collapses concurrent misses, and sends the rest upstream. What becomes of an origin answer
 * (stored or passed on) is cache-fill.ts; reading and writing entries is cache-entries.ts.
 */
import type { AdmissionOptions } from '../../cache/admission.ts'
import { type CacheStatusParams, type ForwardReason, formatCacheStatus } from '../../cache/cache-status.ts'
import { decide, ttlMs, type Verdict } from '../../cache/freshness.ts'
import { invalidatedKeys, isUnsafeMethod } from '../../cache/invalidation.ts'
import {
  parseRequestDirectives,
  type RequestDirectives,
  withoutRefresh,
} from '../../cache/request-directives.ts'
import { conditionalFields, hasValidator, updateFromNotModified } from '../../cache/revalidate.ts'
import type { Clock } from '../../clock.ts'
import { EdgecacheError } from '../../errors.ts'
import type { CacheStore } from '../../storage/store.ts'
import { events, publish } from '../../observability/events.ts'
import type { Invalidator } from '../../surrogate/invalidator.ts'
import { type Answer, textAnswer } from '../answer.ts'
import type { Collapser, FillEnd } from '../collapser.ts'
import { FillMemory } from '../fill-body.ts'
import { createPassMemory } from '../pass-memory.ts'
import { isWorthSharing, type SharedCollapser } from '../shared-collapser.ts'
import type { Next, Stage } from '../compose.ts'
import { createFacts, forwardOf, type RequestContext } from '../context.ts'
import { createCacheEntries, type Found, type Lookup } from './cache-entries.ts'
import { answerFromStored } from './cache-answer.ts'
import {
  createFiller,
  type Fill,
  isStream,
  makeFill,
  type RequestKeys,
  releasedBy,
  requestKeysOf,
} from './cache-fill.ts'

export interface CacheStageLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface CacheStageDeps {
  readonly store: CacheStore
  readonly clock: Clock
  readonly collapser: Collapser
  /** Collapsing across instances, behind the in-process collapser. @default none */
  readonly sharedCollapser?: SharedCollapser
  readonly log: CacheStageLog
  /** The cache's name in Cache-Status. @default 'edgecache' */
  readonly name: string
  /** Largest body stored, bytes; larger responses pass through. */
  readonly maxObjectBytes: number
  /** How long a stale response with a validator is kept for revalidation, ms. */
  readonly keepMs: number
  /** How long a collapsed request waits for the one that went upstream, ms. */
  readonly collapseTimeoutMs: number
  /** Bytes held by this process's fills in progress. @default 128 MiB */
  readonly fillMemory?: FillMemory
  readonly admission: AdmissionOptions
  /** Carries out RFC 9111 §4.4 invalidations. */
  readonly invalidator: Invalidator
  /**
   * The URL part of the key a GET for this URL is stored under (router/cache-key.ts),
   * for §4.4 invalidation. @default the target as received
   */
  readonly urlKeyOf?: (scheme: string, host: string, target: string) => string
  /** The store's name in metrics: its driver. */
  readonly storeName: string
  /**
   * Whether this request's own Cache-Control and Pragma count; when not, only
   * only-if-cached and no-store do (withoutRefresh). @default always
   */
  readonly honoursRequestDirectives?: (ctx: RequestContext) => boolean
}

/** Uncacheable keys remembered at most, and for how long (Varnish keeps hit-for-miss 120 s). */
const PASS_MEMORY_KEYS = 10_000
const PASS_MEMORY_MS = 30_000

/**
 * @example
 * const stage = createCacheStage({ store, clock: systemClock, collapser: createCollapser(), log,
 *   name: 'edgecache', maxObjectBytes: 8 << 20, collapseTimeoutMs: 30_000, admission })
 */
export function createCacheStage(deps: CacheStageDeps): Stage {
  // name, keepMs, collapseTimeoutMs and admission are read at each use: a reload may change them.
  const { clock, collapser, sharedCollapser, log } = deps
  const refreshing = new Set<string>()

  const status = (p: CacheStatusParams) => formatCacheStatus(deps.name, p)
  const entries = createCacheEntries(deps)
  const passMemory = createPassMemory(PASS_MEMORY_KEYS, PASS_MEMORY_MS, clock)
  const { fillRequest, cleanTargeted, admitAndAnswer } = createFiller({
    get admission() {
      return deps.admission
    },
    maxObjectBytes: deps.maxObjectBytes,
    get keepMs() {
      return deps.keepMs
    },
    log,
    status,
    entries,
    passMemory,
    fillMemory: deps.fillMemory ?? new FillMemory(() => 128 << 20),
  })

  /** Goes upstream for a full response and stores it if allowed (the miss path). */
  async function fetchAndStore(fill: Fill, next: Next): Promise<Answer> {
    const requestTime = clock.now()
    let answer: Answer
    const [request, unlink] = outlivingItsClient(fillRequest(fill.ctx), passMemory.has(fill.key))
    try {
      answer = await next(request)
    } catch (err) {
      fill.release(failureOf(fill.ctx, err))
      throw err
    } finally {
      unlink()
    }
    return admitAndAnswer(fill, answer, requestTime, clock.now())
  }

  /**
   * The miss this process leads, when other instances share the store: claims the key's
   * fill lock and fetches, or waits for the instance holding it and serves what that one
   * stored (shared-collapser.ts). `fill.release` ends this process's own collapsing.
   */
  async function fetchOnceAcrossInstances(shared: SharedCollapser, fill: Fill, next: Next): Promise<Answer> {
    const { ctx, key, release } = fill
    const claim = await shared.claim(key)
    if (claim.kind === 'lead') {
      const releaseBoth = (end: FillEnd) => {
        claim.release(end.result)
        release(end)
      }
      return fetchAndStore(releasedBy(fill, releaseBoth), next)
    }
    if (claim.outcome === 'failed' || claim.outcome === 'timed-out') {
      // The origin failed the other instance's fill: answer the same way, and so do this
      // process's own waiters, rather than send the herd to a failing origin.
      const error = new EdgecacheError(
        claim.outcome === 'failed' ? 'EC_ERR_UPSTREAM_FAILED_COLLAPSED' : 'EC_ERR_UPSTREAM_TIMEOUT',
      )
      release({ result: claim.outcome, error })
      throw error
    }
    if (claim.outcome === 'uncacheable') {
      // Its answer may not be stored: go upstream at once, and so will the next requests.
      passMemory.remember(key)
      return fetchAndStore(fill, next)
    }
    const again = await entries.lookup(key, ctx.headers)
    const hit = collapsedHit(ctx, again, fill.directives, fill.fwd)
    if (hit !== undefined) {
      release({ result: 'stored' })
      return hit
    }
    // Nothing fresh stored (the bound passed, or the fill failed): fetch it ourselves.
    const missed =
      again.kind === 'miss'
        ? makeFill(ctx, fill, fill.directives, again.reason, again.marker, release, fill.replacing)
        : fill
    return fetchAndStore(missed, next)
  }

  /** RFC 9111 §4.3.4: the stored response a 304 refreshes, or undefined when it does not select it. */
  function notModified(
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
      deps.admission,
      ctx.facts.policy,
    )
  }

  /**
   * RFC 9111 §4.3: asks the origin whether `found` is still good, using its validators;
   * one conditional request per stored response at a time, the others wait for it.
   */
  async function revalidate(
    ctx: RequestContext,
    next: Next,
    keys: RequestKeys,
    found: Found,
    verdict: Extract<Verdict, { kind: 'revalidate' }>,
    directives: RequestDirectives,
  ): Promise<Answer> {
    const release = collapser.lead(found.key)
    if (release !== undefined) return revalidateOnce(ctx, next, keys, found, verdict, directives, release)
    const end = await collapser.follow(found.key, deps.collapseTimeoutMs)
    const again = await entries.lookup(keys.key, ctx.headers)
    const hit = collapsedHit(ctx, again, directives, verdict.reason)
    if (hit !== undefined) return hit
    if (end?.result === 'failed' || end?.result === 'timed-out') {
      // RFC 5861 §4: the origin failed the revalidation this one waited for.
      if (verdict.staleIfError) return staleOnError(ctx, found, end.status)
      return collapsedFailure(ctx, end, verdict.reason)
    }
    return revalidateOnce(ctx, next, keys, found, verdict, directives, noop)
  }

  async function revalidateOnce(
    ctx: RequestContext,
    next: Next,
    keys: RequestKeys,
    found: Found,
    verdict: Extract<Verdict, { kind: 'revalidate' }>,
    directives: RequestDirectives,
    release: (end: FillEnd) => void,
  ): Promise<Answer> {
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
      if (verdict.staleIfError) return staleOnError(ctx, found, undefined)
      throw err
    }
    const responseTime = clock.now()
    if (answer.status >= 500 && verdict.staleIfError) {
      release({ result: 'failed', status: answer.status })
      discard(answer)
      return staleOnError(ctx, found, answer.status)
    }
    if (answer.status === 304) {
      const updated = notModified(ctx, found, answer, requestTime, responseTime)
      if (updated === undefined) return fetchAndStore(fill, next)
      await entries.storeRefreshed(found, updated, requestTime).finally(() => release({ result: 'stored' }))
      ctx.facts.cache = 'revalidated'
      const ttl = ttlMs(updated, responseTime)
      return answerFromStored({
        ctx,
        response: updated,
        body: found.body,
        ageMs: updated.initialAgeMs,
        cacheStatus: status({ fwd, fwdStatus: 304, stored: true, ttlMs: ttl }),
        revalidated: true,
      })
    }
    return admitAndAnswer(fill, answer, requestTime, responseTime)
  }

  function staleOnError(ctx: RequestContext, found: Found, fwdStatus: number | undefined): Answer {
    const now = clock.now()
    ctx.facts.cache = 'stale'
    return answerFromStored({
      ctx,
      response: found.response,
      body: found.body,
      ageMs: found.response.initialAgeMs + (now - found.response.responseTime),
      cacheStatus: status({
        fwd: 'stale',
        fwdStatus,
        ttlMs: ttlMs(found.response, now),
        detail: 'stale-if-error',
      }),
      revalidated: false,
    })
  }

  /** RFC 5861 §3: refreshes `found` in the background, at most one refresh per key at a time. */
  function refreshInBackground(ctx: RequestContext, next: Next, keys: RequestKeys, found: Found): void {
    if (refreshing.has(found.key)) return
    refreshing.add(found.key)
    const headers = hasValidator(found.response) ? conditionalFields(found.response) : undefined
    const background = forwardOf(fillRequest(ctx, headers), {
      body: undefined,
      signal: new AbortController().signal,
    })
    const bgCtx: RequestContext = { ...background, facts: createFacts() }
    bgCtx.facts.route = ctx.facts.route
    bgCtx.facts.tags = ctx.facts.tags
    bgCtx.facts.policy = ctx.facts.policy
    const requestTime = clock.now()
    const done = () => refreshing.delete(found.key)
    next(bgCtx)
      .then((answer) => {
        const responseTime = clock.now()
        if (answer.status === 304) {
          const updated = notModified(bgCtx, found, answer, requestTime, responseTime)
          if (updated === undefined) return done()
          publish(events.backgroundRevalidation, { result: 'not-modified' })
          return entries.storeRefreshed(found, updated, requestTime).then(done)
        }
        if (answer.status >= 500) {
          // Keep serving what we have; the next stale hit tries again.
          publish(events.backgroundRevalidation, { result: 'failed' })
          discard(answer)
          return done()
        }
        const directives = parseRequestDirectives(undefined, undefined)
        const fill = makeFill(bgCtx, keys, directives, 'stale', found.marker, done, found.key)
        const out = admitAndAnswer(fill, answer, requestTime, responseTime)
        publish(events.backgroundRevalidation, {
          result: bgCtx.facts.cache === 'miss' ? 'updated' : 'not-storable',
        })
        if (out.body !== undefined && isStream(out.body)) out.body.resume()
      })
      .catch((err: unknown) => {
        publish(events.backgroundRevalidation, { result: 'failed' })
        done()
        log.warn({ err, reqId: ctx.id }, 'background revalidation failed')
      })
  }

  /** The route says never to cache: no lookup, no store, no collapsing. */
  async function bypass(ctx: RequestContext, next: Next): Promise<Answer> {
    const answer = await next(ctx)
    ctx.facts.cache = 'bypass'
    cleanTargeted(answer)
    answer.headers['cache-status'] = status({
      fwd: 'bypass',
      fwdStatus: answer.status,
      detail: 'route-policy',
    })
    return answer
  }

  async function unsafe(ctx: RequestContext, next: Next): Promise<Answer> {
    const answer = await next(ctx)
    ctx.facts.cache = 'pass'
    const keyOf =
      deps.urlKeyOf === undefined
        ? undefined
        : (target: string) => deps.urlKeyOf!(ctx.scheme, ctx.host, target)
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
    await entries.purgeUrls(keys)
    cleanTargeted(answer)
    answer.headers['cache-status'] = status({ fwd: 'method', fwdStatus: answer.status })
    return answer
  }

  return {
    name: 'cache',
    handle(ctx, next) {
      if (ctx.facts.policy.bypass) return withErrorStatus(ctx, bypass(ctx, next))
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return withErrorStatus(ctx, otherMethod(ctx, next))
      let keys: RequestKeys
      let directives: RequestDirectives
      let here: Found | undefined
      try {
        keys = requestKeysOf(ctx)
        const cacheControl = ctx.headers['cache-control']
        directives = parseRequestDirectives(cacheControl, ctx.headers.pragma)
        // Asked only of a request that carries directives: most carry none.
        const carries = cacheControl !== undefined || ctx.headers.pragma !== undefined
        if (carries && deps.honoursRequestDirectives?.(ctx) === false) directives = withoutRefresh(directives)
        // A hit this process holds is answered without a single await: most requests to a
        // cache are hits, and each promise and microtask on their path costs.
        here = entries.lookupHere(keys.key, ctx.headers)
        if (here !== undefined) {
          const verdict = decide(here.response, directives, clock.now())
          if (verdict.kind !== 'revalidate') {
            return Promise.resolve(answerUsable(ctx, next, keys, here, verdict))
          }
        }
      } catch (err) {
        return Promise.reject(err)
      }
      return withErrorStatus(ctx, lookUpAndAnswer(ctx, next, keys, directives, here))
    },
  }

  /** A stored response the verdict lets us send: fresh, or stale where that is allowed. */
  function answerUsable(
    ctx: RequestContext,
    next: Next,
    keys: RequestKeys,
    found: Found,
    verdict: Exclude<Verdict, { kind: 'revalidate' }>,
  ): Answer {
    switch (verdict.kind) {
      case 'fresh':
        return fromCache(ctx, found, verdict, {})
      case 'stale-allowed':
        return fromCache(ctx, found, verdict, { detail: 'max-stale' })
      case 'stale-while-revalidate':
        refreshInBackground(ctx, next, keys, found)
        return fromCache(ctx, found, verdict, { detail: 'stale-while-revalidate' })
    }
  }

  /** `answer`, with Cache-Status kept for the error boundary's 502/504 when it fails. */
  function withErrorStatus(ctx: RequestContext, answer: Promise<Answer>): Promise<Answer> {
    return answer.catch((err: unknown) => {
      const fwd = ctx.facts.policy.bypass
        ? 'bypass'
        : ctx.method === 'GET' || ctx.method === 'HEAD'
          ? 'miss'
          : 'method'
      ctx.facts.cacheStatus ??= status({ fwd, detail: 'upstream-error' })
      throw err
    })
  }

  /** Methods the cache neither answers nor stores: unsafe ones invalidate (RFC 9111 §4.4). */
  async function otherMethod(ctx: RequestContext, next: Next): Promise<Answer> {
    if (isUnsafeMethod(ctx.method)) return unsafe(ctx, next)
    const answer = await next(ctx)
    ctx.facts.cache = 'pass'
    answer.headers['cache-status'] = status({ fwd: 'method', fwdStatus: answer.status })
    return answer
  }

  /**
   * A GET or HEAD the in-process hit path could not answer: a miss (collapsed, across
   * instances too), a stored response to revalidate, or one the store holds elsewhere.
   * `here` is what the store's in-process tier already found, so it is not looked up again.
   */
  async function lookUpAndAnswer(
    ctx: RequestContext,
    next: Next,
    keys: RequestKeys,
    directives: RequestDirectives,
    here: Found | undefined,
  ): Promise<Answer> {
    const { key } = keys
    let found: Lookup =
      here === undefined ? await entries.lookup(key, ctx.headers) : { kind: 'found', found: here }

    if (found.kind === 'miss' && !directives.onlyIfCached) {
      const missed = found
      const fillWith = (release: (end: FillEnd) => void) =>
        makeFill(ctx, keys, directives, missed.reason, missed.marker, release, undefined)
      // Known not to be storable lately: nothing to wait for, so no collapsing.
      if (passMemory.has(key)) return fetchAndStore(fillWith(noop), next)
      const waitUntil = performance.now() + deps.collapseTimeoutMs
      for (;;) {
        const release = collapser.lead(key)
        if (release !== undefined) {
          if (sharedCollapser !== undefined && isWorthSharing(ctx, directives)) {
            return fetchOnceAcrossInstances(sharedCollapser, fillWith(release), next)
          }
          return fetchAndStore(fillWith(release), next)
        }
        // Another request is fetching this key: wait for it, then look again.
        const end = await collapser.follow(key, waitUntil - performance.now())
        if (end?.result === 'failed' || end?.result === 'timed-out')
          return collapsedFailure(ctx, end, missed.reason)
        const again = await entries.lookup(key, ctx.headers)
        const hit = collapsedHit(ctx, again, directives, found.reason)
        if (hit !== undefined) return hit
        found = again
        // Its client went away before the origin answered: one waiter takes the fill over,
        // the others wait for that one, within the time left.
        if (end?.result === 'abandoned' && found.kind === 'miss' && performance.now() < waitUntil) continue
        break
      }
      if (found.kind === 'miss') {
        return fetchAndStore(
          makeFill(ctx, keys, directives, found.reason, found.marker, noop, undefined),
          next,
        )
      }
    }

    if (found.kind === 'miss') {
      // RFC 9111 §5.2.1.7: only-if-cached and nothing usable stored.
      ctx.facts.cache = 'miss'
      return onlyIfCached(ctx, status({ fwd: found.reason, detail: 'only-if-cached' }))
    }
    const verdict = decide(found.found.response, directives, clock.now())
    if (verdict.kind !== 'revalidate') return answerUsable(ctx, next, keys, found.found, verdict)
    if (directives.onlyIfCached) {
      ctx.facts.cache = 'miss'
      return onlyIfCached(
        ctx,
        status({ fwd: verdict.reason, ttlMs: verdict.ttlMs, detail: 'only-if-cached' }),
      )
    }
    return revalidate(ctx, next, keys, found.found, verdict, directives)
  }

  /**
   * The fill this request waited for failed at the origin: the same failure, at once. A
   * thrown error is thrown again (the error boundary answers 502 or 504); a 5xx the origin
   * answered is told with its status, not its body, which was another request's.
   */
  function collapsedFailure(
    ctx: RequestContext,
    end: Extract<FillEnd, { result: 'failed' | 'timed-out' }>,
    fwd: ForwardReason,
  ): Answer {
    ctx.facts.collapsed = true
    ctx.facts.cacheStatus = status({ fwd, collapsed: true, detail: 'upstream-error' })
    if (end.status === undefined) throw end.error ?? new EdgecacheError('EC_ERR_UPSTREAM_FAILED_COLLAPSED')
    ctx.facts.cache = 'pass'
    const err = new EdgecacheError('EC_ERR_UPSTREAM_FAILED_COLLAPSED')
    return textAnswer(end.status, `${end.status} ${err.message} (request id ${ctx.id})`, {
      'cache-status': status({ fwd, fwdStatus: end.status, collapsed: true }),
    })
  }

  /** A fresh response another request's fetch stored while this one waited (RFC 9211 §2.6 collapsed). */
  function collapsedHit(
    ctx: RequestContext,
    again: Lookup,
    directives: RequestDirectives,
    fwd: ForwardReason,
  ): Answer | undefined {
    if (again.kind !== 'found') return undefined
    const verdict = decide(again.found.response, directives, clock.now())
    if (verdict.kind !== 'fresh') return undefined
    ctx.facts.collapsed = true
    return fromCache(ctx, again.found, verdict, { collapsed: true, fwd })
  }

  function fromCache(
    ctx: RequestContext,
    found: Found,
    verdict: Exclude<Verdict, { kind: 'revalidate' }>,
    extra: { detail?: string; collapsed?: boolean; fwd?: ForwardReason },
  ): Answer {
    const stale = verdict.kind !== 'fresh'
    ctx.facts.cache = stale ? 'stale' : 'hit'
    const params: CacheStatusParams =
      extra.collapsed === true
        ? { fwd: extra.fwd, fwdStatus: found.response.status, collapsed: true, ttlMs: verdict.ttlMs }
        : { hit: true, ttlMs: verdict.ttlMs, detail: extra.detail }
    return answerFromStored({
      ctx,
      response: found.response,
      body: found.body,
      ageMs: verdict.ageMs,
      cacheStatus: status(params),
      revalidated: false,
    })
  }
}

function noop(): void {}

/**
 * The fill request with a signal of its own, and the function that unlinks it from the
 * client's: the client going away aborts the fill request only until the origin's header
 * section arrives. After that the fill reads on at the origin's pace (fill-body.ts) and gives
 * the request up itself when nobody stores or reads the body. A key known to be
 * uncacheable keeps the client's signal: its answer will only be passed on, and an
 * AbortController per request is not worth its cost there.
 */
function outlivingItsClient(request: RequestContext, uncacheable: boolean): [RequestContext, () => void] {
  const client = request.signal
  if (uncacheable || client.aborted) return [request, noop]
  const own = new AbortController()
  const onAbort = () => own.abort(client.reason)
  client.addEventListener('abort', onAbort, { once: true })
  return [forwardOf(request, { signal: own.signal }), () => client.removeEventListener('abort', onAbort)]
}

/**
 * How a fill that threw ended, for the requests waiting on it: its own client going away
 * is the fill's failure (one waiter takes over); anything else is the origin's, which the
 * waiters answer with too.
 */
function failureOf(ctx: RequestContext, err: unknown): FillEnd {
  if (ctx.signal.aborted) return { result: 'abandoned' }
  const timedOut = err instanceof EdgecacheError && err.status === 504
  return { result: timedOut ? 'timed-out' : 'failed', error: err }
}

function onlyIfCached(ctx: RequestContext, cacheStatus: string): Answer {
  const err = new EdgecacheError('EC_ERR_CACHE_ONLY_IF_CACHED')
  return textAnswer(err.status ?? 504, `${err.status} ${err.message} (request id ${ctx.id})`, {
    'cache-status': cacheStatus,
  })
}

/** Drops an answer's body so its upstream connection is released. */
function discard(answer: Answer): void {
  if (isStream(answer.body)) answer.body.resume()
}
