/**
 * The optional PURGE method on the public listener: `PURGE /path` from an allowed client
 * address hard-purges that URL (every variant). Off by default; when off, the methods stage
 * answers PURGE with 405 (it is never forwarded). A client outside the allowed ranges gets 403.
 */
import { createAddressList } from '../../address-list.ts'
import type { Invalidator } from '../../surrogate/invalidator.ts'
import { type Answer, refusalAnswer } from '../answer.ts'
import type { Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'

export interface PurgeMethodDeps {
  readonly enabled: boolean
  /** IP addresses and CIDR ranges allowed to PURGE. */
  readonly allow: readonly string[]
  readonly invalidator: Invalidator
}

export function createPurgeMethodStage(deps: PurgeMethodDeps): Stage {
  const allowed = createAddressList(
    deps.allow,
    (i, entry) =>
      new Error(`purge method: allow[${i}] must be an IP address or CIDR, got ${JSON.stringify(entry)}`),
  )
  return {
    name: 'purge-method',
    handle(ctx, next) {
      // Not async: every request passes here, and only PURGE needs to wait for anything.
      if (ctx.method !== 'PURGE' || !deps.enabled) return next(ctx)
      return purge(ctx)
    },
  }

  async function purge(ctx: RequestContext): Promise<Answer> {
    ctx.facts.cache = 'pass'
    if (!allowed.has(ctx.clientAddress))
      return refusalAnswer(ctx.id, 403, 'PURGE is not allowed from this address')
    const result = await deps.invalidator.invalidate({
      urls: [`${ctx.scheme}://${ctx.host}${ctx.target}`],
      soft: false,
      dryRun: false,
      source: 'purge-method',
    })
    const body = Buffer.from(`${JSON.stringify({ purged: result.purged })}\n`)
    return {
      status: 200,
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.length),
        'cache-control': 'no-store',
      },
      body,
    }
  }
}
