/**
 * The parts step (RFC 9111 §3.3, §3.4), on a route whose `rangeRequests` is `parts`: a GET
 * for one byte range that finds no complete response stored is answered from the stored
 * parts when they cover its range (a hit), and otherwise goes upstream with its Range.
 * The 206 that comes back is relayed and, when it may be, kept as a part: combined with
 * the stored parts of the same strong validator, in their place otherwise, and stored as a
 * complete 200 once the parts hold all of it (entries.ts `commitPart`, cache/parts.ts). A
 * 200 that comes back instead is a fill like any other (deliver.ts).
 *
 * The request goes upstream as the client sent it, conditionals included: If-Range only
 * when the client sent one. Its own If-Range must reach the origin, or the client could
 * be sent a range of another representation than the one it holds; one of edgecache's
 * own (the stored parts' validator) would turn a changed representation into a whole 200,
 * which for a large object is the very download a range mode is there to avoid. Whatever
 * comes back is the origin's answer to the client's own request, so it is relayed as is,
 * and only a 206 or 200 is stored. Range requests are not collapsed: two clients rarely ask
 * for the same range at once, and a range must never wait for a whole fill.
 */
import { admit } from '../../cache/admission.ts'
import { afterCacheStatus, type ForwardReason } from '../../cache/cache-status.ts'
import { isNotModified, notModifiedHeaders } from '../../cache/conditional.ts'
import { decide, retainUntil, ttlMs } from '../../cache/freshness.ts'
import { coveredSlice, partOf } from '../../cache/parts.ts'
import { type ByteRangeSpec, ifRangeMatches, parseByteRange, resolveRange } from '../../cache/range.ts'
import type { RequestDirectives } from '../../cache/request-directives.ts'
import { events, publish } from '../../observability/events.ts'
import type { RequestKeys } from '../../router/cache-key.ts'
import type { Answer, ResponseHeaders } from '../answer.ts'
import type { Next } from '../compose.ts'
import type { RequestContext } from '../context.ts'
import { cleanTargeted, contentLength, deliverFetched, type Fill, makeFill } from './deliver.ts'
import type { FoundParts, Lookup } from './entries.ts'
import { FillBody } from './fill-body.ts'
import { type CacheMachine, noop } from './machine.ts'
import { outlivingItsClient } from './miss.ts'
import { onlyIfCached } from './synth.ts'

type Missed = Extract<Lookup, { kind: 'miss' }>

/**
 * The one byte range a GET asks for when its route keeps parts; undefined otherwise (whole
 * mode, HEAD, no Range, several ranges, other units), and the request is a miss as any.
 */
export function partsRange(m: CacheMachine, ctx: RequestContext): ByteRangeSpec | undefined {
  if (ctx.method !== 'GET' || ctx.headers.range === undefined) return undefined
  if ((ctx.facts.policy.rangeRequests ?? m.deps.rangeRequests ?? 'whole') !== 'parts') return undefined
  return parseByteRange(ctx.headers.range)
}

/** A one-range GET with no complete response stored: answered from the stored parts, or upstream. */
export function rangeMiss(
  m: CacheMachine,
  ctx: RequestContext,
  next: Next,
  keys: RequestKeys,
  directives: RequestDirectives,
  missed: Missed,
  range: ByteRangeSpec,
): Answer | Promise<Answer> {
  const stored = missed.parts
  const answer = stored === undefined ? undefined : fromParts(m, ctx, stored, range, directives)
  if (answer !== undefined) return answer
  // RFC 9211 §2.2: parts were stored, but not enough of them (or not fresh, or not the ones If-Range names).
  const fwd: ForwardReason = stored === undefined ? missed.reason : 'partial'
  // RFC 9111 §5.2.1.7
  if (directives.onlyIfCached) return onlyIfCached(ctx, m.status({ fwd, detail: 'only-if-cached' }))
  return fetchRange(m, makeFill(ctx, keys, directives, fwd, missed.marker, noop, undefined), next)
}

/**
 * RFC 9111 §3.3: the stored parts answer a range wholly within them, while their freshness
 * allows (fresh, or stale within the client's max-stale). Stale parts are not revalidated
 * with a 304: the range goes upstream, and a 206 with the same strong validator refreshes
 * them (§3.4: the new part's header fields replace the stored ones).
 */
function fromParts(
  m: CacheMachine,
  ctx: RequestContext,
  stored: FoundParts,
  range: ByteRangeSpec,
  directives: RequestDirectives,
): Answer | undefined {
  const { response, parts } = stored
  const verdict = decide(response, directives, m.clock.now())
  if (verdict.kind !== 'fresh' && verdict.kind !== 'stale-allowed') return undefined
  // RFC 9110 §13.1.5: an If-Range the parts do not match asks for the whole representation.
  const ifRange = ctx.headers['if-range']
  if (ifRange !== undefined && !ifRangeMatches(ifRange, response.headers)) return undefined
  const selected = resolveRange(range, parts.length)
  const body =
    selected.kind === 'partial' ? coveredSlice(parts, stored.body, selected.start, selected.end) : undefined
  if (selected.kind === 'partial' && body === undefined) return undefined
  ctx.facts.cache = verdict.kind === 'fresh' ? 'hit' : 'stale'
  const cacheStatus = m.status({
    hit: true,
    ttlMs: verdict.ttlMs,
    detail: verdict.kind === 'fresh' ? undefined : 'max-stale',
  })
  const age = String(Math.floor(verdict.ageMs / 1000))
  // RFC 9110 §13.2.2: If-None-Match and If-Modified-Since come before Range.
  if (
    (ctx.headers['if-none-match'] !== undefined || ctx.headers['if-modified-since'] !== undefined) &&
    isNotModified(ctx.headers, response.headers, response.responseTime)
  ) {
    const headers = notModifiedHeaders(response.headers)
    headers.age = age
    headers['cache-status'] = afterCacheStatus(response.headers['cache-status'], cacheStatus)
    return { status: 304, headers, body: undefined }
  }
  const headers: ResponseHeaders = {}
  for (const name in response.headers) {
    const value = response.headers[name]!
    headers[name] = typeof value === 'string' ? value : [...value]
  }
  headers.age = age
  headers['cache-status'] = afterCacheStatus(headers['cache-status'], cacheStatus)
  if (body === undefined) {
    // RFC 9110 §15.5.17: the complete length is known, and the range starts past it.
    headers['content-range'] = `bytes */${parts.length}`
    headers['content-length'] = '0'
    return { status: 416, headers, body: undefined }
  }
  if (selected.kind === 'partial')
    headers['content-range'] = `bytes ${selected.start}-${selected.end}/${parts.length}`
  headers['content-length'] = String(body.length)
  return { status: 206, headers, body }
}

/** Sends the client's range request upstream and delivers what comes back. */
async function fetchRange(m: CacheMachine, fill: Fill, next: Next): Promise<Answer> {
  const requestTime = m.clock.now()
  // Once the origin answered, a client that leaves does not cut the part short: it is stored.
  const [request, unlink] = outlivingItsClient(fill.ctx, false)
  let answer: Answer
  try {
    answer = await next(request)
  } finally {
    unlink()
  }
  const responseTime = m.clock.now()
  // The origin ignored Range, or the client's If-Range did not match: a whole response.
  if (answer.status === 200) return deliverFetched(m, fill, answer, requestTime, responseTime)
  if (answer.status === 206) return deliverPart(m, fill, answer, requestTime, responseTime)
  // 304, 412, 416, errors: answers to this client's own conditions and range, never stored.
  fill.ctx.facts.cache = 'pass'
  cleanTargeted(m, answer)
  answer.headers['cache-status'] = afterCacheStatus(
    answer.headers['cache-status'],
    m.status({ fwd: fill.fwd, fwdStatus: answer.status }),
  )
  return answer
}

/** A 206 from the origin: relayed, and kept as a part when it may be (RFC 9111 §3.3). */
function deliverPart(
  m: CacheMachine,
  fill: Fill,
  answer: Answer,
  requestTime: number,
  responseTime: number,
): Answer {
  const { ctx, fwd } = fill
  const { deps, entries, log } = m
  const admission = admit(
    { status: answer.status, headers: answer.headers, requestTime, responseTime },
    { directives: fill.directives, hasAuthorization: ctx.headers.authorization !== undefined, partial: true },
    0,
    deps.admission,
    ctx.facts.policy,
  )
  // Read before cleanTargeted: the validator goes by the origin's own Date.
  const part = partOf(answer.headers)
  cleanTargeted(m, answer)
  const declared = contentLength(answer.headers)
  const partLength = typeof part === 'string' ? 0 : part.end - part.start + 1
  const bodyLength = Buffer.isBuffer(answer.body) ? answer.body.length : declared
  const reason = !admission.storable
    ? admission.reason
    : typeof part === 'string'
      ? part
      : (bodyLength ?? partLength) !== partLength
        ? 'incomplete'
        : partLength > deps.maxObjectBytes
          ? 'too-large'
          : retainUntil(admission.response, deps.keepMs) <= responseTime
            ? 'no-lifetime'
            : undefined
  if (reason !== undefined || typeof part === 'string' || !admission.storable) {
    // Relayed as the origin sent it, and nothing stored changes.
    ctx.facts.cache = 'pass'
    answer.headers['cache-status'] = afterCacheStatus(
      answer.headers['cache-status'],
      m.status({ fwd, fwdStatus: 206, detail: reason }),
    )
    publish(events.cacheNotStored, { reason: reason ?? 'status' })
    return answer
  }
  ctx.facts.cache = 'miss'
  const response = admission.response
  answer.headers['cache-status'] = afterCacheStatus(
    answer.headers['cache-status'],
    m.status({ fwd, fwdStatus: 206, stored: true, ttlMs: ttlMs(response, responseTime) }),
  )
  const complete = (body: Buffer) => {
    entries
      .commitPart(fill, response, part, body, answer.tags ?? [], requestTime, deps.maxObjectBytes)
      .then((committed) => {
        if (committed) publish(events.cacheStored, { ttlMs: response.lifetimeMs, bytes: body.length })
        else publish(events.cacheNotStored, { reason: 'store-refused' })
      })
      .catch((err: unknown) => log.error({ err, reqId: ctx.id }, 'cache commit of a part failed'))
  }
  if (answer.body === undefined || Buffer.isBuffer(answer.body)) {
    if (answer.body !== undefined) complete(answer.body)
    return answer
  }
  // As a fill: read at the origin's pace, stored only when the whole part arrived.
  const body = new FillBody(answer.body, {
    maxBytes: deps.maxObjectBytes,
    expectedLength: partLength,
    memory: m.fillMemory,
    onComplete: complete,
    onAbandon: (why) => publish(events.cacheNotStored, { reason: why }),
  })
  return { ...answer, body: body.reader() }
}
