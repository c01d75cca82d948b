/**
 * The deliver step for an origin's answer to a fill request (the full GET a miss or a
 * revalidation sends upstream): stored when RFC 9111 allows it and the body arrives whole
 * (fill-body.ts), remembered as uncacheable when it may not be stored (hit-for-miss), and
 * turned into the client's answer either way. A stored response is delivered by
 * stored-answer.ts. Also what a fill is, and the request it sends.
 */
import type { Readable } from 'node:stream'
import { admit } from '../../cache/admission.ts'
import { afterCacheStatus, type ForwardReason } from '../../cache/cache-status.ts'
import { isNotModified, notModifiedHeaders } from '../../cache/conditional.ts'
import { currentAgeMs, retainUntil, ttlMs } from '../../cache/freshness.ts'
import type { RequestDirectives } from '../../cache/request-directives.ts'
import type { StoredResponse, VaryMarker } from '../../cache/stored-response.ts'
import { variantOf } from '../../cache/vary.ts'
import { events, publish } from '../../observability/events.ts'
import type { RequestKeys } from '../../router/cache-key.ts'
import type { Answer, ResponseHeaders } from '../answer.ts'
import type { FillEnd, Lead, SharedFill } from '../collapser.ts'
import { forwardOf, type RequestContext } from '../context.ts'
import { markVariesOnCoding } from './encodings.ts'
import type { CommitTarget } from './entries.ts'
import { FillBody } from './fill-body.ts'
import type { CacheMachine } from './machine.ts'

/** One attempt to fill the cache for a request. */
export interface Fill extends CommitTarget {
  readonly ctx: RequestContext
  readonly directives: RequestDirectives
  readonly fwd: ForwardReason
  /** Called once the response is stored or will not be (ends request collapsing), saying how. */
  readonly release: (end: FillEnd) => void
  /** Key of the stored response being refreshed, which a non-storable answer deletes. */
  readonly replacing: string | undefined
  /** Lets the requests collapsed into this fill stream it before it is stored; only a leading fill has it. */
  readonly share: ((fill: SharedFill) => void) | undefined
}

/**
 * A Fill built field by field, always in this order. Object spreads on the miss path took
 * V8's slow path (a spread followed by more properties) and left each fill in its own
 * shape; one constructor keeps every Fill on one hidden class.
 */
export function makeFill(
  ctx: RequestContext,
  keys: RequestKeys,
  directives: RequestDirectives,
  fwd: ForwardReason,
  marker: VaryMarker | undefined,
  release: ((end: FillEnd) => void) | Lead,
  replacing: string | undefined,
  share: ((fill: SharedFill) => void) | undefined = (release as Partial<Lead>).share,
): Fill {
  return { ctx, key: keys.key, urlKey: keys.urlKey, directives, fwd, marker, release, replacing, share }
}

/** The same fill with another release (and the same waiters to share it with). */
export function releasedBy(fill: Fill, release: (end: FillEnd) => void): Fill {
  return makeFill(fill.ctx, fill, fill.directives, fill.fwd, fill.marker, release, fill.replacing, fill.share)
}

/** Request fields that would turn the fill request into something other than a full GET. */
const FILL_STRIPPED = new Set([
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
])

/** The request sent upstream to fill the cache: a full GET whatever the client asked. */
export function fillRequest(ctx: RequestContext, extra?: Record<string, string>): RequestContext {
  // Copied field by field: a spread and then `delete` would leave a dictionary-mode object.
  const headers: Record<string, string | string[] | undefined> = {}
  const from = ctx.headers
  for (const name in from) if (!FILL_STRIPPED.has(name)) headers[name] = from[name]
  if (extra !== undefined) Object.assign(headers, extra)
  return forwardOf(ctx, { method: 'GET', headers })
}

/** Removes the targeted cache fields this cache consumes (RFC 9213) from an answer. */
export function cleanTargeted(m: CacheMachine, answer: Answer): void {
  const { consumedFields, targetedFields } = m.deps.admission
  for (const field of consumedFields ?? targetedFields) delete answer.headers[field]
}

/**
 * Handles an origin answer to a fill request: stores it when it may be stored and
 * returns the client's answer. `release` is called once storing finished or gave up.
 */
export function deliverFetched(
  m: CacheMachine,
  fill: Fill,
  answer: Answer,
  requestTime: number,
  responseTime: number,
): Answer {
  const { ctx, directives, fwd, release } = fill
  const { deps, status, entries, passMemory, log } = m
  const admission = admit(
    { status: answer.status, headers: answer.headers, requestTime, responseTime },
    { directives, hasAuthorization: ctx.headers.authorization !== undefined },
    0,
    deps.admission,
    ctx.facts.policy,
  )
  cleanTargeted(m, answer)
  const declaredLength = contentLength(answer.headers)
  const bodyLength = Buffer.isBuffer(answer.body) ? answer.body.length : declaredLength
  const tooLarge = bodyLength !== undefined && bodyLength > deps.maxObjectBytes
  // Storable, but stale on arrival with nothing to revalidate it by: no store would keep it.
  const useless = admission.storable && retainUntil(admission.response, deps.keepMs) <= responseTime
  if (!admission.storable || tooLarge || useless) {
    ctx.facts.cache = 'pass'
    const detail = !admission.storable ? admission.reason : useless ? 'no-lifetime' : 'too-large'
    answer.headers['cache-status'] = afterCacheStatus(
      answer.headers['cache-status'],
      status({ fwd, fwdStatus: answer.status, detail }),
    )
    publish(events.cacheNotStored, { reason: detail })
    if (answer.status >= 500) {
      // The origin failed: those waiting for this fill answer with the same status at
      // once. Not remembered as uncacheable, so the next requests still collapse and a
      // failing origin never sees the herd.
      release({ result: 'failed', status: answer.status })
    } else {
      // Hit-for-miss: the next requests for this key go upstream at once, not one by one.
      const hitForMiss = detail !== 'request-no-store' && detail !== 'authorization'
      if (hitForMiss) passMemory.remember(fill.key)
      release({ result: hitForMiss ? 'uncacheable' : 'abandoned' })
    }
    // A response that may not be stored must not leave an older one to be served (RFC 9111 §4),
    // unless it is the origin failing: the older one is then what stale-if-error and the
    // grace for a disconnected origin serve, and a 5xx invalidates nothing (§4.4).
    if (!admission.storable && fill.replacing !== undefined && answer.status < 500)
      void entries.delete(fill.replacing)
    return ctx.method === 'HEAD' ? withoutBody(answer) : answer
  }
  ctx.facts.cache = 'miss'
  passMemory.forget(fill.key)
  const response = admission.response
  answer.headers['cache-status'] = afterCacheStatus(
    answer.headers['cache-status'],
    status({ fwd, fwdStatus: answer.status, stored: true, ttlMs: ttlMs(response, responseTime) }),
  )
  // Later clients may get it decoded: this one's answer says it varies, as theirs will.
  if (deps.encodings !== undefined) markVariesOnCoding(answer, response)
  const complete = (body: Buffer) => {
    const stored: StoredResponse = {
      ...response,
      headers: { ...response.headers, 'content-length': String(body.length) },
      bodyLength: body.length,
    }
    entries
      .commit(fill, stored, body, answer.tags ?? [], requestTime)
      .then((committed) => {
        if (committed) publish(events.cacheStored, { ttlMs: stored.lifetimeMs, bytes: body.length })
        else publish(events.cacheNotStored, { reason: 'store-refused' })
        return committed
      })
      .catch((err: unknown) => {
        log.error({ err, reqId: ctx.id }, 'cache commit failed')
        return false
      })
      .then((committed) => release({ result: committed ? 'stored' : 'abandoned' }))
  }
  if (answer.body === undefined || Buffer.isBuffer(answer.body)) {
    // The whole body is here already (upstream.ts answers small responses as one Buffer).
    if (answer.body !== undefined && declaredLength !== undefined && declaredLength !== answer.body.length) {
      release({ result: 'abandoned' })
      publish(events.cacheNotStored, { reason: 'incomplete' })
    } else {
      complete(answer.body ?? Buffer.alloc(0))
    }
    return headersOnlyFor(ctx, response, answer) ?? answer
  }
  // Read at the origin's pace whatever this client does (fill-body.ts): the body is stored
  // when it arrived whole, and the client streams it as fast as it reads.
  const body = new FillBody(answer.body, {
    maxBytes: deps.maxObjectBytes,
    expectedLength: declaredLength,
    memory: m.fillMemory,
    onComplete: complete,
    onAbandon: (reason) => {
      publish(events.cacheNotStored, { reason })
      release({ result: 'abandoned' })
    },
  })
  fill.share?.({ result: 'streaming', join: (waiter) => joinFill(m, fill, response, body, waiter) })
  // The body is still read so it can be stored, with no reader for a HEAD or a 304.
  return headersOnlyFor(ctx, response, answer) ?? { ...answer, body: body.reader() }
}

/**
 * A request collapsed into `fill` streams its body as it arrives, as a hit would answer
 * the stored response, or undefined when it must wait for the entry instead: the fill
 * stopped storing, the response varies on a field the two requests differ in (RFC 9111
 * §4.1), the waiter carries Authorization (§3.5), or asks for a range.
 */
function joinFill(
  m: CacheMachine,
  fill: Fill,
  response: StoredResponse,
  body: FillBody,
  waiter: RequestContext,
): Answer | undefined {
  if (!body.storing || waiter.headers.authorization !== undefined || waiter.headers.range !== undefined)
    return undefined
  const vary = response.vary
  // Read as the lookup reads them: requests that select the same coding share one variant.
  const selectors = m.deps.encodings?.selectors
  if (
    vary !== undefined &&
    variantOf(vary, waiter.headers, selectors) !== variantOf(vary, fill.ctx.headers, selectors)
  )
    return undefined
  const headers: ResponseHeaders = {}
  for (const name in response.headers) {
    const value = response.headers[name]!
    headers[name] = typeof value === 'string' ? value : [...value]
  }
  // RFC 9111 §5.1: as old as the response is now, which the origin's Age may already make more than 0.
  const now = m.clock.now()
  headers.age = String(Math.floor(currentAgeMs(response, now) / 1000))
  headers['cache-status'] = afterCacheStatus(
    headers['cache-status'],
    m.status({ fwd: fill.fwd, fwdStatus: response.status, ttlMs: ttlMs(response, now), collapsed: true }),
  )
  const own: Answer = { status: response.status, headers, body: undefined }
  if (m.deps.encodings !== undefined) markVariesOnCoding(own, response)
  const headersOnly = headersOnlyFor(waiter, response, own)
  const reader = headersOnly === undefined ? body.reader() : undefined
  if (headersOnly === undefined && reader === undefined) return undefined
  waiter.facts.cache = 'hit'
  waiter.facts.collapsed = true
  return headersOnly ?? { ...own, body: reader }
}

/** The client gets headers only for HEAD, or a 304 for its conditional request. */
function headersOnlyFor(ctx: RequestContext, response: StoredResponse, answer: Answer): Answer | undefined {
  if (ctx.method === 'HEAD') return { ...answer, body: undefined }
  if (!clientHasIt(ctx, response)) return undefined
  const headers = notModifiedHeaders(response.headers)
  headers['cache-status'] = answer.headers['cache-status']!
  return { status: 304, headers, body: undefined }
}

export function isStream(body: Answer['body']): body is Readable {
  return body !== undefined && !Buffer.isBuffer(body)
}

/** RFC 9110 §13.1: the client's If-None-Match / If-Modified-Since already match `response`. */
function clientHasIt(ctx: RequestContext, response: StoredResponse): boolean {
  if (ctx.headers['if-none-match'] === undefined && ctx.headers['if-modified-since'] === undefined)
    return false
  return response.status === 200 && isNotModified(ctx.headers, response.headers, response.responseTime)
}

export function contentLength(headers: Answer['headers']): number | undefined {
  const value = headers['content-length']
  const text = typeof value === 'string' ? value : value?.[0]
  if (text === undefined || !/^\d+$/.test(text)) return undefined
  return Number(text)
}

function withoutBody(answer: Answer): Answer {
  if (isStream(answer.body)) answer.body.destroy()
  return { ...answer, body: undefined }
}

/** Drops an answer's body so its upstream connection is released. */
export function discard(answer: Answer): void {
  if (isStream(answer.body)) answer.body.resume()
}
