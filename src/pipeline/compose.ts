/**
 * Runs stages in order. Each stage answers or passes to the next; the last `next` is a
 * 404 (a pipeline always ends with the upstream stage, so it is not reached in practice).
 * This is also the one boundary that turns an error into an answer and logs it.
 */
import { EdgecacheError } from '../errors.ts'
import { type Answer, refusalAnswer, textAnswer } from './answer.ts'
import type { RequestContext } from './context.ts'

export type Next = (ctx: RequestContext) => Promise<Answer>

export interface Stage {
  readonly name: string
  handle(ctx: RequestContext, next: Next): Promise<Answer>
}

export interface ErrorReporter {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export type Pipeline = (ctx: RequestContext) => Promise<Answer>

/**
 * Composes `stages` into one function. A stage that calls `next` twice with the same
 * context gets an error, as Hono's compose guards; background work derives a new context.
 */
export function compose(stages: readonly Stage[], log: ErrorReporter): Pipeline {
  const dispatch = (index: number, ctx: RequestContext): Promise<Answer> => {
    const stage = stages[index]
    if (stage === undefined) return Promise.resolve(textAnswer(404, 'no route'))
    let called: RequestContext | undefined
    const next: Next = (nextCtx) => {
      if (called === nextCtx) return Promise.reject(new Error(`stage ${stage.name} called next() twice`))
      called = nextCtx
      return dispatch(index + 1, nextCtx)
    }
    return stage.handle(ctx, next)
  }
  return async (ctx) => {
    try {
      return await dispatch(0, ctx)
    } catch (err) {
      return errorAnswer(ctx, err, log)
    }
  }
}

/** The client sees a status and the request id, never an internal message. */
export function errorAnswer(ctx: RequestContext, err: unknown, log: ErrorReporter): Answer {
  const status = err instanceof EdgecacheError && err.status !== undefined ? err.status : 500
  if (ctx.signal.aborted) return textAnswer(status, 'client closed request')
  // A backend that fails, or a request refused on purpose, is a warning; only what
  // edgecache did not expect is an error.
  const expected = err instanceof EdgecacheError && err.status !== undefined && err.code !== 'EC_ERR_INTERNAL'
  if (expected) log.warn({ err, reqId: ctx.id }, 'request failed')
  else log.error({ err, reqId: ctx.id }, 'request failed')
  const reason = err instanceof EdgecacheError && err.status !== undefined ? err.message : 'internal error'
  const headers: Record<string, string> = { 'x-request-id': ctx.id }
  if (ctx.facts.cacheStatus !== undefined) headers['cache-status'] = ctx.facts.cacheStatus
  return refusalAnswer(ctx.id, status, reason, headers)
}
