/**
 * The last stage: forwards the request to the pool its route names (the default pool when
 * it names none) and returns the answer as it streams. It never calls `next`, and neither
 * stores nor tags what comes back; the stages before it see the Answer on its way out.
 */
import { EdgecacheError } from '../../errors.ts'
import type { Answer } from '../answer.ts'
import type { Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'

export interface UpstreamStageDeps {
  /** The pool of a route's `upstream:` name (undefined: the default pool); only `send` is used. */
  pool(name: string | undefined): { send(ctx: RequestContext): Promise<Answer> } | undefined
}

/**
 * Builds the upstream stage. Errors from the backend reject, and compose's boundary turns
 * them into a 502, 503 or 504.
 *
 * @example
 * const stage = createUpstreamStage({ pool: (name) => pools.get(name) })
 */
export function createUpstreamStage({ pool }: UpstreamStageDeps): Stage {
  return {
    name: 'upstream',
    handle(ctx) {
      const target = pool(ctx.facts.upstream)
      // Routes are checked against the pools when they load, so this is a bug if reached.
      if (target === undefined) return Promise.reject(new EdgecacheError('EC_ERR_UPSTREAM_UNAVAILABLE'))
      return target.send(ctx)
    },
  }
}
