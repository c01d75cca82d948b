/**
 * The route stage: classifies the request by the route file and records the route's name,
 * tags and cache policy for the stages after it. The router is read once per request, so a
 * reload swaps routes for new requests while those in flight keep theirs.
 */
import type { Router } from '../../router/route.ts'
import type { Stage } from '../compose.ts'

export interface RouteStageDeps {
  /** The routes in force now. */
  router(): Router
}

export function createRouteStage(deps: RouteStageDeps): Stage {
  return {
    name: 'route',
    handle(ctx, next) {
      const query = ctx.target.indexOf('?')
      const path = query === -1 ? ctx.target : ctx.target.slice(0, query)
      const match = deps.router().match(ctx.method, hostname(ctx.host), path)
      const facts = ctx.facts
      facts.route = match.route.name
      facts.tags = match.tags
      facts.policy = match.route.policy
      facts.upstream = match.route.upstream
      facts.match = match
      return next(ctx)
    },
  }
}

/** The host without its port: routes match names, not ports (`[::1]:8000` → `[::1]`). */
function hostname(host: string): string {
  const colon = host.lastIndexOf(':')
  if (colon === -1 || host.endsWith(']')) return host
  return host.slice(0, colon)
}
