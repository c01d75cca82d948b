/**
 * Answers a request from a stored response: 200, 206 for one range, 416, or 304 for a
 * client's conditional request, with Age and Cache-Status. Builds nothing it does not send.
 */
import { afterCacheStatus } from '../../cache/cache-status.ts'
import { isNotModified, notModifiedHeaders } from '../../cache/conditional.ts'
import { selectRange } from '../../cache/range.ts'
import type { StoredResponse } from '../../cache/stored-response.ts'
import type { Answer, ResponseHeaders } from '../answer.ts'
import type { RequestContext } from '../context.ts'

export interface CachedAnswerInput {
  readonly ctx: RequestContext
  readonly response: StoredResponse
  readonly body: Buffer
  readonly ageMs: number
  readonly cacheStatus: string
  /** Fields a qualified no-cache names: not sent without revalidation (RFC 9111 §5.2.2.4). */
  readonly revalidated: boolean
}

export function answerFromStored(input: CachedAnswerInput): Answer {
  const { ctx, response, body } = input
  const age = String(Math.floor(input.ageMs / 1000))
  const isGetOrHead = ctx.method === 'GET' || ctx.method === 'HEAD'
  if (
    isGetOrHead &&
    response.status === 200 &&
    hasConditional(ctx) &&
    isNotModified(ctx.headers, response.headers, response.responseTime)
  ) {
    const headers = notModifiedHeaders(response.headers)
    headers.age = age
    headers['cache-status'] = afterCacheStatus(response.headers['cache-status'], input.cacheStatus)
    return { status: 304, headers, body: undefined }
  }
  const headers = copyHeaders(response, input.revalidated)
  headers.age = age
  headers['cache-status'] = afterCacheStatus(headers['cache-status'], input.cacheStatus)
  // RFC 9110 §14.2 lets a server ignore Range: a content-coded body is sent whole, never in
  // parts, since its bytes are not the origin's (it may have been coded here).
  if (response.status === 200 && ctx.headers.range !== undefined && !isCoded(response.headers)) {
    const range = selectRange(ctx.headers.range, ctx.headers['if-range'], response.headers, body.length)
    if (range.kind === 'partial') {
      headers['content-range'] = `bytes ${range.start}-${range.end}/${body.length}`
      headers['content-length'] = String(range.end - range.start + 1)
      return {
        status: 206,
        headers,
        body: ctx.method === 'HEAD' ? undefined : body.subarray(range.start, range.end + 1),
      }
    }
    if (range.kind === 'unsatisfiable') {
      headers['content-range'] = `bytes */${body.length}`
      headers['content-length'] = '0'
      return { status: 416, headers, body: undefined }
    }
  }
  headers['content-length'] = String(body.length)
  return {
    status: response.status,
    headers,
    storedFields: response.headers,
    body: ctx.method === 'HEAD' ? undefined : body,
  }
}

function isCoded(headers: StoredResponse['headers']): boolean {
  const coding = headers['content-encoding']
  return coding !== undefined && coding !== 'identity'
}

function hasConditional(ctx: RequestContext): boolean {
  return ctx.headers['if-none-match'] !== undefined || ctx.headers['if-modified-since'] !== undefined
}

function copyHeaders(response: StoredResponse, revalidated: boolean): ResponseHeaders {
  const headers: ResponseHeaders = {}
  const omit =
    !revalidated && Array.isArray(response.noCache) ? (response.noCache as readonly string[]) : undefined
  for (const name in response.headers) {
    if (omit?.includes(name)) continue
    const value = response.headers[name]!
    headers[name] = typeof value === 'string' ? value : [...value]
  }
  return headers
}
