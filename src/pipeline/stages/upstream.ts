/**
 * The last stage: forwards the request to the pool its route names (the default pool when
 * it names none) and returns the answer as it streams. It never calls `next`, and neither
 * stores nor tags what comes back; the stages before it see the Answer on its way out.
 *
 * A request body is read first, up to `requestBufferingBytes` (buffer-request-body.ts), so
 * no origin connection is taken while a slow client uploads; a body that fits goes upstream
 * as one Buffer with its length, a longer one streams.
 */
import { EdgecacheError } from '../../errors.ts'
import type { Answer } from '../answer.ts'
import { bufferRequestBody } from '../buffer-request-body.ts'
import type { Stage } from '../compose.ts'
import { forwardOf, type RequestContext } from '../context.ts'

export interface UpstreamStageDeps {
  /** The pool of a route's `upstream:` name (undefined: the default pool); only `send` is used. */
  pool(name: string | undefined): { send(ctx: RequestContext): Promise<Answer> } | undefined
  /**
   * Request body bytes read before going upstream (`server.requestBuffering`), read per
   * request so a reload changes it; 0 streams every body. @default () => 0
   */
  requestBufferingBytes?(): number
}

/**
 * Builds the upstream stage. Errors from the backend reject, and compose's boundary turns
 * them into a 502, 503 or 504.
 *
 * @example
 * const stage = createUpstreamStage({ pool: (name) => pools.get(name), requestBufferingBytes: () => 1 << 20 })
 */
export function createUpstreamStage({ pool, requestBufferingBytes }: UpstreamStageDeps): Stage {
  return {
    name: 'upstream',
    handle(ctx) {
      const target = pool(ctx.facts.upstream)
      // Routes are checked against the pools when they load, so this is a bug if reached.
      if (target === undefined) return Promise.reject(new EdgecacheError('EC_ERR_UPSTREAM_UNAVAILABLE'))
      const body = ctx.body
      if (body === undefined || Buffer.isBuffer(body)) return target.send(ctx)
      const limit = requestBufferingBytes?.() ?? 0
      if (limit === 0) return target.send(ctx)
      return bufferRequestBody(body, limit).then((read) =>
        target.send(read === body ? ctx : forwardOf(ctx, { body: read })),
      )
    },
  }
}
