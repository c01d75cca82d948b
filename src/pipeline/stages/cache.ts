/**
 * The cache stage: looks a request up, answers from the store what RFC 9111 allows, and
 * otherwise forwards it, storing what may be stored. The engine in src/cache decides; this
 * stage acts on its verdicts and does the I/O (store, upstream via `next`, background work).
 */
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { type AdmissionOptions, admit } from '../../cache/admission.ts'
import { primaryKey, variantKey } from '../../cache/cache-key.ts'
import { type CacheStatusParams, type ForwardReason, formatCacheStatus } from '../../cache/cache-status.ts'
import { decide, retainUntil, softPurged, ttlMs, type Verdict } from '../../cache/freshness.ts'
import { isNotModified, notModifiedHeaders } from '../../cache/conditional.ts'
import { invalidatedKeys, isUnsafeMethod } from '../../cache/invalidation.ts'
import { parseRequestDirectives, type RequestDirectives } from '../../cache/request-directives.ts'
import { conditionalFields, hasValidator, updateFromNotModified } from '../../cache/revalidate.ts'
import {
  decodeMeta,
  markerToMeta,
  responseToMeta,
  type StoredResponse,
  type VaryMarker,
} from '../../cache/stored-response.ts'
import { variantOf } from '../../cache/vary.ts'
import type { Clock } from '../../clock.ts'
import { EdgecacheError } from '../../errors.ts'
import type { CacheStore, StoredEntry } from '../../storage/store.ts'
import { events, publish } from '../../observability/events.ts'
import type { Invalidator } from '../../surrogate/invalidator.ts'
import { urlTag } from '../../surrogate/tags.ts'
import { type Answer, textAnswer } from '../answer.ts'
import type { Collapser } from '../collapser.ts'
import type { Next, Stage } from '../compose.ts'
import { createFacts, forwardOf, type HeaderMap, type RequestContext } from '../context.ts'
import { captureBody } from './body-capture.ts'
import { answerFromStored } from './cache-answer.ts'

export interface CacheStageLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface CacheStageDeps {
  readonly store: CacheStore
  readonly clock: Clock
  readonly collapser: Collapser
  readonly log: CacheStageLog
  /** The cache's name in Cache-Status. @default 'edgecache' */
  readonly name: string
  /** Largest body stored, bytes; larger responses pass through. */
  readonly maxObjectBytes: number
  /** How long a stale response with a validator is kept for revalidation, ms. */
  readonly keepMs: number
  /** How long a collapsed request waits for the one that went upstream, ms. */
  readonly collapseTimeoutMs: number
  readonly admission: AdmissionOptions
  /** Carries out RFC 9111 §4.4 invalidations. */
  readonly invalidator: Invalidator
  /** The store's name in metrics: its driver. */
  readonly storeName: string
}

/** A stored response found for a request, and the key it lives under. */
interface Found {
  readonly key: string
  readonly response: StoredResponse
  readonly body: Buffer
  /** The Vary marker it was found through, if any. */
  readonly marker: VaryMarker | undefined
  readonly tags: readonly string[] | undefined
}

type Lookup =
  | { readonly kind: 'found'; readonly found: Found }
  | {
      readonly kind: 'miss'
      readonly reason: 'uri-miss' | 'vary-miss'
      readonly marker: VaryMarker | undefined
    }

/** One attempt to fill the cache for a request. */
interface Fill {
  readonly ctx: RequestContext
  /** Primary key of the request. */
  readonly key: string
  readonly directives: RequestDirectives
  readonly fwd: ForwardReason
  /** The Vary marker seen at lookup, reused when the new response varies on the same fields. */
  readonly marker: VaryMarker | undefined
  /** Called once the response is stored or will not be (ends request collapsing). */
  readonly release: () => void
  /** Key of the stored response being refreshed, which a non-storable answer deletes. */
  readonly replacing: string | undefined
}

/** Request fields that would turn the fill request into something other than a full GET. */
const FILL_STRIPPED = [
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
]

/**
 * @example
 * const stage = createCacheStage({ store, clock: systemClock, collapser: createCollapser(), log,
 *   name: 'edgecache', maxObjectBytes: 8 << 20, collapseTimeoutMs: 30_000, admission })
 */
export function createCacheStage(deps: CacheStageDeps): Stage {
  const { store, clock, collapser, log, name } = deps
  const refreshing = new Set<string>()
  const targeted = deps.admission.targetedFields

  const status = (p: CacheStatusParams) => formatCacheStatus(name, p)
  const storageFailed = (op: 'get' | 'set' | 'delete' | 'purge') =>
    publish(events.storageError, { store: deps.storeName, op })

  async function safeGet(key: string) {
    try {
      return await store.get(key)
    } catch (err) {
      // A store failure degrades to a miss; it never fails the request.
      storageFailed('get')
      log.warn({ err }, 'cache store get failed, serving as miss')
      return undefined
    }
  }

  async function safeSet(key: string, entry: StoredEntry) {
    try {
      return await store.set(key, entry)
    } catch (err) {
      storageFailed('set')
      log.warn({ err }, 'cache store set failed, response not stored')
      return false
    }
  }

  async function safeDelete(key: string) {
    try {
      await store.delete(key)
    } catch (err) {
      storageFailed('delete')
      log.warn({ err }, 'cache store delete failed')
    }
  }

  /** Hard purge of every stored response (all Vary variants) of these primary keys. */
  async function purgeUrls(keys: readonly string[]) {
    if (keys.length === 0) return
    try {
      // Through the invalidator, so every worker's store drops them, not only this one's.
      await deps.invalidator.invalidate({ tags: keys.map(urlTag), soft: false, dryRun: false })
    } catch (err) {
      storageFailed('purge')
      log.warn({ err }, 'cache store purge failed')
    }
  }

  /** The stored response as a request must see it: a soft purge ends its freshness. */
  function toFound(key: string, entry: StoredEntry, response: StoredResponse, marker: VaryMarker | undefined): Found {
    const seen = entry.invalidatedAt === undefined ? response : softPurged(response, entry.invalidatedAt)
    return { key, response: seen, body: entry.body, marker, tags: entry.tags }
  }

  async function lookup(key: string, headers: HeaderMap): Promise<Lookup> {
    const entry = await safeGet(key)
    const decoded = entry === undefined ? undefined : decodeMeta(entry.meta)
    if (entry === undefined || decoded === undefined) return { kind: 'miss', reason: 'uri-miss', marker: undefined }
    if (decoded.kind === 'response') return { kind: 'found', found: toFound(key, entry, decoded.response, undefined) }
    const vkey = variantKey(key, decoded.marker.id, variantOf(decoded.marker.fields, headers))
    const variant = await safeGet(vkey)
    const v = variant === undefined ? undefined : decodeMeta(variant.meta)
    if (variant === undefined || v?.kind !== 'response') {
      return { kind: 'miss', reason: 'vary-miss', marker: decoded.marker }
    }
    return { kind: 'found', found: toFound(vkey, variant, v.response, decoded.marker) }
  }

  /**
   * Stores `response` for the request in `fill`, with a Vary marker when it has selecting
   * fields. Every entry carries the URL's tag, so a URL purge reaches all variants, and the
   * time its fetch started, so a purge since then wins (see CacheStore.set).
   */
  async function commit(fill: Fill, response: StoredResponse, body: Buffer, tags: readonly string[], fetchedAt: number) {
    const { ctx, key, marker } = fill
    const expiresAt = retainUntil(response, deps.keepMs)
    const meta = responseToMeta(response)
    const own = urlTag(key)
    const allTags = tags.includes(own) ? tags : [own, ...tags]
    if (response.vary === undefined) return safeSet(key, { meta, body, expiresAt, tags: allTags, fetchedAt })
    const fields = response.vary
    const sameFields = marker !== undefined && marker.fields.join(',') === fields.join(',')
    const current: VaryMarker = sameFields ? marker : { fields, id: randomBytes(6).toString('base64url') }
    const existing = await safeGet(key)
    const markerExpires = Math.max(expiresAt, sameFields && existing !== undefined ? existing.expiresAt : 0)
    const markerEntry = { meta: markerToMeta(current), body: EMPTY, expiresAt: markerExpires, tags: [own], fetchedAt }
    if (!(await safeSet(key, markerEntry))) return false
    const vkey = variantKey(key, current.id, variantOf(fields, ctx.headers))
    return safeSet(vkey, { meta, body, expiresAt, tags: allTags, fetchedAt })
  }

  /** Stores a response a 304 refreshed, under the key and tags it had. */
  function storeRefreshed(found: Found, updated: StoredResponse, fetchedAt: number) {
    return safeSet(found.key, {
      meta: responseToMeta(updated),
      body: found.body,
      expiresAt: retainUntil(updated, deps.keepMs),
      tags: found.tags,
      fetchedAt,
    })
  }

  /** The request sent upstream to fill the cache: a full GET whatever the client asked. */
  function fillRequest(ctx: RequestContext, extra?: Record<string, string>): RequestContext {
    const headers: Record<string, string | string[] | undefined> = { ...ctx.headers }
    for (const field of FILL_STRIPPED) delete headers[field]
    if (extra !== undefined) Object.assign(headers, extra)
    return forwardOf(ctx, { method: 'GET', headers })
  }

  function cleanTargeted(answer: Answer): void {
    for (const field of targeted) delete answer.headers[field]
  }

  /**
   * Handles an origin answer to a fill request: stores it when it may be stored and
   * returns the client's answer. `release` is called once storing finished or gave up.
   */
  function admitAndAnswer(fill: Fill, answer: Answer, requestTime: number, responseTime: number): Answer {
    const { ctx, key, directives, fwd, marker, release } = fill
    const admission = admit(
      { status: answer.status, headers: answer.headers, requestTime, responseTime },
      { directives, hasAuthorization: ctx.headers.authorization !== undefined },
      0,
      deps.admission,
      ctx.facts.policy,
    )
    cleanTargeted(answer)
    const declaredLength = contentLength(answer.headers)
    const tooLarge = declaredLength !== undefined && declaredLength > deps.maxObjectBytes
    if (!admission.storable || tooLarge || !(answer.body === undefined || isStream(answer.body))) {
      release()
      ctx.facts.cache = 'pass'
      const detail = admission.storable ? 'too-large' : admission.reason
      answer.headers['cache-status'] = status({ fwd, fwdStatus: answer.status, detail })
      publish(events.cacheNotStored, { reason: detail })
      // A response that may not be stored must not leave an older one to be served (RFC 9111 §4).
      if (!admission.storable && fill.replacing !== undefined) void safeDelete(fill.replacing)
      return ctx.method === 'HEAD' ? withoutBody(answer) : answer
    }
    ctx.facts.cache = 'miss'
    const response = admission.response
    answer.headers['cache-status'] = status({
      fwd,
      fwdStatus: answer.status,
      stored: true,
      ttlMs: ttlMs(response, responseTime),
    })
    const complete = (body: Buffer) => {
      const stored: StoredResponse = {
        ...response,
        headers: { ...response.headers, 'content-length': String(body.length) },
        bodyLength: body.length,
      }
      commit(fill, stored, body, answer.tags ?? [], requestTime)
        .then((committed) => {
          if (committed) publish(events.cacheStored, { ttlMs: stored.lifetimeMs, bytes: body.length })
          else publish(events.cacheNotStored, { reason: 'store-refused' })
        })
        .catch((err: unknown) => log.error({ err, reqId: ctx.id }, 'cache commit failed'))
        .finally(release)
    }
    if (answer.body === undefined) {
      complete(Buffer.alloc(0))
      return answer
    }
    const body = captureBody(answer.body as Readable, {
      maxBytes: deps.maxObjectBytes,
      expectedLength: declaredLength,
      onComplete: complete,
      onAbandon: (reason) => {
        publish(events.cacheNotStored, { reason })
        release()
      },
    })
    if (ctx.method === 'HEAD' || clientHasIt(ctx, response)) {
      // The client gets headers only (HEAD, or a 304 for its conditional request); the
      // body is still read so it can be stored.
      body.resume()
      if (ctx.method === 'HEAD') return { ...answer, body: undefined }
      const headers = notModifiedHeaders(response.headers)
      headers['cache-status'] = answer.headers['cache-status']!
      return { status: 304, headers, body: undefined }
    }
    return { ...answer, body }
  }

  /** Goes upstream for a full response and stores it if allowed (the miss path). */
  async function fetchAndStore(fill: Fill, next: Next): Promise<Answer> {
    const requestTime = clock.now()
    let answer: Answer
    try {
      answer = await next(fillRequest(fill.ctx))
    } catch (err) {
      fill.release()
      throw err
    }
    return admitAndAnswer(fill, answer, requestTime, clock.now())
  }

  /** RFC 9111 §4.3: asks the origin whether `found` is still good, using its validators. */
  async function revalidate(
    ctx: RequestContext,
    next: Next,
    primary: string,
    found: Found,
    verdict: Extract<Verdict, { kind: 'revalidate' }>,
    directives: RequestDirectives,
  ): Promise<Answer> {
    const fwd: ForwardReason = verdict.reason
    const fill: Fill = {
      ctx,
      key: primary,
      directives,
      fwd,
      marker: found.marker,
      release: noop,
      replacing: found.key,
    }
    const requestTime = clock.now()
    let answer: Answer
    try {
      answer = await next(
        fillRequest(ctx, hasValidator(found.response) ? conditionalFields(found.response) : undefined),
      )
    } catch (err) {
      // RFC 5861 §4: stale-if-error lets a stale response stand in for a failed origin.
      if (verdict.staleIfError) return staleOnError(ctx, found, undefined)
      throw err
    }
    const responseTime = clock.now()
    if (answer.status >= 500 && verdict.staleIfError) {
      discard(answer)
      return staleOnError(ctx, found, answer.status)
    }
    if (answer.status === 304) {
      discard(answer)
      const updated = updateFromNotModified(
        found.response,
        answer.headers,
        requestTime,
        responseTime,
        deps.admission,
        ctx.facts.policy,
      )
      if (updated === undefined) return fetchAndStore(fill, next)
      await storeRefreshed(found, updated, requestTime)
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
  function refreshInBackground(ctx: RequestContext, next: Next, primary: string, found: Found): void {
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
          discard(answer)
          const updated = updateFromNotModified(
            found.response,
            answer.headers,
            requestTime,
            responseTime,
            deps.admission,
            bgCtx.facts.policy,
          )
          if (updated === undefined) return done()
          publish(events.backgroundRevalidation, { result: 'not-modified' })
          return storeRefreshed(found, updated, requestTime).then(done)
        }
        if (answer.status >= 500) {
          // Keep serving what we have; the next stale hit tries again.
          publish(events.backgroundRevalidation, { result: 'failed' })
          discard(answer)
          return done()
        }
        const fill: Fill = {
          ctx: bgCtx,
          key: primary,
          directives: parseRequestDirectives(undefined, undefined),
          fwd: 'stale',
          marker: found.marker,
          release: done,
          replacing: found.key,
        }
        const out = admitAndAnswer(fill, answer, requestTime, responseTime)
        publish(events.backgroundRevalidation, { result: bgCtx.facts.cache === 'miss' ? 'updated' : 'not-storable' })
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
    answer.headers['cache-status'] = status({ fwd: 'bypass', fwdStatus: answer.status, detail: 'route-policy' })
    return answer
  }

  async function unsafe(ctx: RequestContext, next: Next): Promise<Answer> {
    const answer = await next(ctx)
    ctx.facts.cache = 'pass'
    const keys = invalidatedKeys(ctx.method, answer.status, ctx.scheme, ctx.host, ctx.target, answer.headers)
    // RFC 9111 §4.4; purging the URL's tag reaches every Vary variant, and a fill that
    // started before this write cannot store its older response afterwards.
    await purgeUrls(keys)
    cleanTargeted(answer)
    answer.headers['cache-status'] = status({ fwd: 'method', fwdStatus: answer.status })
    return answer
  }

  return {
    name: 'cache',
    async handle(ctx, next) {
      if (ctx.facts.policy.bypass) return bypass(ctx, next)
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        if (isUnsafeMethod(ctx.method)) return unsafe(ctx, next)
        const answer = await next(ctx)
        ctx.facts.cache = 'pass'
        answer.headers['cache-status'] = status({ fwd: 'method', fwdStatus: answer.status })
        return answer
      }
      const directives = parseRequestDirectives(ctx.headers['cache-control'], ctx.headers.pragma)
      const key = primaryKey(ctx.scheme, ctx.host, ctx.target)
      let found = await lookup(key, ctx.headers)

      if (found.kind === 'miss' && !directives.onlyIfCached) {
        const release = collapser.lead(key)
        const fill = { ctx, key, directives, fwd: found.reason, marker: found.marker, replacing: undefined }
        if (release !== undefined) return fetchAndStore({ ...fill, release }, next)
        // Another request is fetching this key: wait for it, then look again.
        await collapser.follow(key, deps.collapseTimeoutMs)
        const again = await lookup(key, ctx.headers)
        if (again.kind === 'found') {
          const verdict = decide(again.found.response, directives, clock.now())
          if (verdict.kind === 'fresh') {
            ctx.facts.collapsed = true
            return fromCache(ctx, again.found, verdict, { collapsed: true, fwd: found.reason })
          }
        }
        found = again
        if (found.kind === 'miss') {
          return fetchAndStore({ ...fill, fwd: found.reason, marker: found.marker, release: noop }, next)
        }
      }

      if (found.kind === 'miss') {
        // RFC 9111 §5.2.1.7: only-if-cached and nothing usable stored.
        ctx.facts.cache = 'miss'
        return onlyIfCached(ctx, status({ fwd: found.reason, detail: 'only-if-cached' }))
      }
      const verdict = decide(found.found.response, directives, clock.now())
      switch (verdict.kind) {
        case 'fresh':
          return fromCache(ctx, found.found, verdict, {})
        case 'stale-allowed':
          return fromCache(ctx, found.found, verdict, { detail: 'max-stale' })
        case 'stale-while-revalidate':
          refreshInBackground(ctx, next, key, found.found)
          return fromCache(ctx, found.found, verdict, { detail: 'stale-while-revalidate' })
        case 'revalidate':
          if (directives.onlyIfCached) {
            ctx.facts.cache = 'miss'
            return onlyIfCached(
              ctx,
              status({ fwd: verdict.reason, ttlMs: verdict.ttlMs, detail: 'only-if-cached' }),
            )
          }
          return revalidate(ctx, next, key, found.found, verdict, directives)
      }
    },
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

const EMPTY = Buffer.alloc(0)

/** RFC 9110 §13.1: the client's If-None-Match / If-Modified-Since already match `response`. */
function clientHasIt(ctx: RequestContext, response: StoredResponse): boolean {
  if (ctx.headers['if-none-match'] === undefined && ctx.headers['if-modified-since'] === undefined) return false
  return response.status === 200 && isNotModified(ctx.headers, response.headers, response.responseTime)
}

function onlyIfCached(ctx: RequestContext, cacheStatus: string): Answer {
  const err = new EdgecacheError('EC_ERR_CACHE_ONLY_IF_CACHED')
  return textAnswer(err.status ?? 504, `${err.status} ${err.message} (request id ${ctx.id})`, {
    'cache-status': cacheStatus,
  })
}

function contentLength(headers: Answer['headers']): number | undefined {
  const value = headers['content-length']
  const text = typeof value === 'string' ? value : value?.[0]
  if (text === undefined || !/^\d+$/.test(text)) return undefined
  return Number(text)
}

function isStream(body: Answer['body']): body is Readable {
  return body !== undefined && !Buffer.isBuffer(body)
}

/** Drops an answer's body so its upstream connection is released. */
function discard(answer: Answer): void {
  if (isStream(answer.body)) answer.body.resume()
}

function withoutBody(answer: Answer): Answer {
  if (isStream(answer.body)) answer.body.destroy()
  return { ...answer, body: undefined }
}
