/**
 * Which request methods reach the cache and the backend. PURGE and BAN are cache commands:
 * never forwarded (an origin answering 200 to one would make edgecache drop the URL after
 * it, RFC 9111 §4.4, so anyone could evict anything); PURGE is answered by the purge-method
 * stage when it is on, otherwise here with 405. TRACE (cross-site tracing) and CONNECT are
 * refused unless `server.methods` names them; an allow list narrows the rest. A GET or HEAD
 * with a body is refused with 400: its answer would be stored under the URL alone (a "fat
 * GET"), whatever the body asked for.
 */
import { type Answer, refusalAnswer } from '../answer.ts'
import type { Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'

export interface MethodsDeps {
  /** Methods forwarded, upper case; `*` for any but TRACE and CONNECT. */
  readonly methods: () => readonly string[]
}

/** Commands for caches, never sent on. */
const CACHE_COMMANDS = new Set(['PURGE', 'BAN'])
/** Refused unless named: TRACE reflects the request (cookies included) back to scripts. */
const ONLY_WHEN_NAMED = new Set(['TRACE', 'CONNECT'])
/** What Allow lists when any method is forwarded. */
const COMMON = 'GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE'

export function createMethodsStage(deps: MethodsDeps): Stage {
  return {
    name: 'methods',
    handle(ctx, next) {
      const refusal = refusalOf(ctx, deps.methods())
      return refusal === undefined ? next(ctx) : Promise.resolve(refusal)
    },
  }
}

function refusalOf(ctx: RequestContext, methods: readonly string[]): Answer | undefined {
  const { method } = ctx
  const any = methods.includes('*')
  const allowed =
    !CACHE_COMMANDS.has(method) && (methods.includes(method) || (any && !ONLY_WHEN_NAMED.has(method)))
  if (!allowed) {
    ctx.facts.cache = 'pass'
    const allow = any ? COMMON : methods.filter((m) => !CACHE_COMMANDS.has(m)).join(', ')
    return refusalAnswer(ctx.id, 405, `${method} is not allowed here`, { allow })
  }
  if ((method === 'GET' || method === 'HEAD') && ctx.body !== undefined) {
    ctx.facts.cache = 'pass'
    return refusalAnswer(ctx.id, 400, `a ${method} request may not carry a body`)
  }
  return undefined
}
