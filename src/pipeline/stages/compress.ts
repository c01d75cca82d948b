/**
 * The compress stage, between the cache stage and the backend: asks the backend for the
 * coding the client's Accept-Encoding selects, and codes the backend's answer in it when the
 * response may be compressed (compression/negotiate.ts). It sits below the cache so that a
 * response is compressed once, when the cache fills, and stored compressed: hits are served
 * as stored, with no work per hit. Every answer it could have coded says
 * `Vary: Accept-Encoding`, identity ones too.
 */
import { pipeline, Readable } from 'node:stream'
import type { Compression } from '../../compression/compression.ts'
import { createDecoder, createEncoder, encode } from '../../compression/encode.ts'
import {
  type Chosen,
  codingOf,
  isCoding,
  isNegotiable,
  varyWithAcceptEncoding,
  weakened,
} from '../../compression/negotiate.ts'
import type { Answer } from '../answer.ts'
import type { Stage } from '../compose.ts'
import { forwardOf, type RequestContext } from '../context.ts'

export interface CompressStageDeps {
  readonly compression: Compression
  readonly log: { warn(obj: object, msg: string): void }
}

/**
 * @example
 * const stage = createCompressStage({ compression: createCompression(options), log })
 */
export function createCompressStage({ compression, log }: CompressStageDeps): Stage {
  return {
    name: 'compress',
    async handle(ctx, next) {
      // A Range request is answered with the origin's own bytes: never part of a coded body.
      const chosen =
        ctx.headers.range === undefined ? compression.acceptanceOf(ctx.headers).chosen : 'identity'
      const answer = await next(askingFor(ctx, chosen))
      if (ctx.method === 'HEAD' || answer.body === undefined) return answer
      const bodyLength = Buffer.isBuffer(answer.body) ? answer.body.length : contentLength(answer.headers)
      if (!isNegotiable({ status: answer.status, headers: answer.headers, bodyLength }, compression))
        return answer
      answer.headers.vary = varyWithAcceptEncoding(answer.headers.vary)
      const has = codingOf(answer.headers['content-encoding'])
      if (has === chosen) return answer
      try {
        return await recoded(answer, has as Chosen, chosen, bodyLength)
      } catch (err) {
        // zlib failed on a whole body: send it as the origin did (Vary is there either way).
        log.warn({ err, reqId: ctx.id }, 'compression failed, answering uncompressed')
        return answer
      }
    },
  }

  /**
   * `answer` with its body in `to` rather than `from`. A whole identity body is coded in one
   * call; anything else streams through a decoder and an encoder, holding no more than
   * zlib's windows whatever the body's size.
   */
  async function recoded(answer: Answer, from: Chosen, to: Chosen, bodyLength: number | undefined) {
    const body = answer.body!
    let coded: Buffer | Readable
    if (Buffer.isBuffer(body) && from === 'identity' && to !== 'identity') {
      // Coded before any field changes: if zlib fails, the answer goes out as it came.
      coded = await encode(to, body, compression.levels)
    } else {
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body
      const steps = [
        ...(isCoding(from) ? [createDecoder(from)] : []),
        ...(to === 'identity' ? [] : [createEncoder(to, compression.levels, bodyLength)]),
      ]
      // pipeline destroys every step when one fails or the reader goes away, so the
      // backend's body is aborted and the cache stage sees an error, never a clean end:
      // nothing cut short is stored.
      coded = pipeline([source, ...steps], () => {}) as unknown as Readable
    }
    const headers = answer.headers
    const etag = weakened(headers.etag)
    if (etag !== undefined) headers.etag = etag
    // Ranges of a coded body are not served (cache/stored-answer.ts), so none are offered.
    delete headers['accept-ranges']
    if (to === 'identity') delete headers['content-encoding']
    else headers['content-encoding'] = to
    if (Buffer.isBuffer(coded)) headers['content-length'] = String(coded.length)
    else delete headers['content-length']
    return { ...answer, body: coded }
  }
}

/** The request sent on, asking the backend for the chosen coding only (or identity). */
function askingFor(ctx: RequestContext, chosen: Chosen): RequestContext {
  const asked = ctx.headers['accept-encoding']
  // Without the field an origin sends identity (or a coding it always sends, which this
  // stage then decodes): no copy of the request for it, on a path every pass takes.
  if (asked === chosen || (asked === undefined && chosen === 'identity')) return ctx
  return forwardOf(ctx, { headers: { ...ctx.headers, 'accept-encoding': chosen } })
}

function contentLength(headers: Answer['headers']): number | undefined {
  const value = headers['content-length']
  const text = typeof value === 'string' ? value : value?.[0]
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined
}
