/**
 * `POST /routes/reload` on the admin listener: reloads the route file now, with the same
 * bearer token as invalidation. 200 with the number of routes, or 422 with every problem
 * when the file is invalid (the routes in force stay).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ReloadResult } from '../router/live-router.ts'
import { authorized, createBearerAuth } from './bearer-auth.ts'
import { sendJson } from './json-reply.ts'

export interface RoutesReloadDeps {
  reload(): ReloadResult
  readonly tokens: readonly string[]
  readonly log: { warn(obj: object, msg: string): void }
}

export function createRoutesReloadHandler(deps: RoutesReloadDeps) {
  const auth = createBearerAuth(deps.tokens)
  return (req: IncomingMessage, res: ServerResponse): void => {
    // The body, if any, means nothing here; drain it so the connection stays usable.
    req.resume()
    if (!authorized(auth, req, res, deps.log, 'routes reload')) return
    const result = deps.reload()
    if (result.ok) sendJson(res, 200, { reloaded: true, routes: result.routes })
    else
      sendJson(res, 422, {
        reloaded: false,
        error: 'route file rejected; the routes in force stay',
        problems: result.problems,
      })
  }
}
