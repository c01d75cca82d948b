/**
 * The last stage of an Upgrade request (a WebSocket handshake): after the rules, the route
 * and its rate limit have had their say, it asks the route's pool for a server that
 * switches protocols. A 101 answer carries the backend's connection for the server to join
 * to the client's; any other answer is relayed as it came. Nothing here is ever cached:
 * the cache stage is not in an upgrade's pipeline at all.
 */
import { EdgecacheError } from '../../errors.ts'
import type { Answer } from '../answer.ts'
import type { Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'

export interface UpgradeStageDeps {
  /** The pool of a route's `upstream:` name (undefined: the default pool); only `upgrade` is used. */
  pool(name: string | undefined): { upgrade(ctx: RequestContext): Promise<Answer> } | undefined
}

/**
 * @example
 * const stage = createUpgradeStage({ pool: (name) => pools.get(name) })
 */
export function createUpgradeStage({ pool }: UpgradeStageDeps): Stage {
  return {
    name: 'upgrade',
    handle(ctx) {
      // For logs and metrics: the cache was not asked, as for any request it passes on.
      ctx.facts.cache = 'pass'
      const target = pool(ctx.facts.upstream)
      // Routes are checked against the pools when they load, so this is a bug if reached.
      if (target === undefined) return Promise.reject(new EdgecacheError('EC_ERR_UPSTREAM_UNAVAILABLE'))
      return target.upgrade(ctx)
    },
  }
}
