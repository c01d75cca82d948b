/**
 * The last stage: forwards the request to the backend and returns its answer as it
 * streams. It never calls `next`, and neither stores nor tags what comes back; the stages
 * before it see the Answer on its way out.
 */
import type { Upstream } from '../../upstream/upstream.ts'
import type { Stage } from '../compose.ts'

export interface UpstreamStageDeps {
  /** Where requests go; only `send` is used. */
  readonly upstream: Pick<Upstream, 'send'>
}

/**
 * Builds the upstream stage. Errors from the backend reject, and compose's boundary turns
 * them into a 502 or 504.
 *
 * @example
 * const stage = createUpstreamStage({ upstream: createUpstream({ url, forwarding }) })
 */
export function createUpstreamStage({ upstream }: UpstreamStageDeps): Stage {
  return {
    name: 'upstream',
    handle(ctx) {
      return upstream.send(ctx)
    },
  }
}
