/**
 * `POST /reload` and `POST /routes/reload` on the admin listener, with the same bearer
 * token as invalidation. Every worker reloads; the answer says how many applied it and
 * which changed fields need a restart. 200 when every worker reloaded, 422 with every
 * problem when the new config or route file was refused (what is in force stays), 503 when
 * a worker did not answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ReloadReport, ReloadScope } from '../reload/reload-report.ts'
import { authorized, createBearerAuth, type TokenSource } from './bearer-auth.ts'
import { sendJson } from './json-reply.ts'

export interface ReloadHandlerDeps {
  reload(scope: ReloadScope, trigger: 'admin'): Promise<ReloadReport>
  readonly scope: ReloadScope
  readonly tokens: TokenSource
  readonly log: { warn(obj: object, msg: string): void }
}

export function createReloadHandler(deps: ReloadHandlerDeps) {
  const auth = createBearerAuth(deps.tokens)
  const action = deps.scope === 'routes' ? 'routes reload' : 'reload'
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The body, if any, means nothing here; drain it so the connection stays usable.
    req.resume()
    if (!authorized(auth, req, res, deps.log, action)) return
    const report = await deps.reload(deps.scope, 'admin')
    const refused = report.problems.length > 0 && report.workers === 0
    const status = report.reloaded ? 200 : refused ? 422 : 503
    sendJson(res, status, {
      ...report,
      ...(refused && {
        error: `${deps.scope === 'routes' ? 'route file' : 'config'} rejected; what is in force stays`,
      }),
    })
  }
}
