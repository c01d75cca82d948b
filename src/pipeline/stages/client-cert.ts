/**
 * Routes that need a client certificate (mTLS): a route with `requireClientCert` answers
 * 403 unless the TLS listener verified one against `tls.clientCa`. Runs right after the
 * route stage, before rules, limits, the cache and the backend, so an unproven client
 * reaches none of them. The listener must ask for the certificate at the handshake
 * (`tls.clientCert: request`): Node has no TLS 1.3 post-handshake authentication and
 * HTTP/2 forbids renegotiation, so a route cannot ask for one later.
 */
import { EdgecacheError } from '../../errors.ts'
import { refusalAnswer } from '../answer.ts'
import type { Stage } from '../compose.ts'

export function createClientCertStage(): Stage {
  return {
    name: 'client-cert',
    handle(ctx, next) {
      if (ctx.facts.match?.route.requireClientCert !== true || ctx.clientSubject !== undefined)
        return next(ctx)
      const err = new EdgecacheError('EC_ERR_REQUEST_CLIENT_CERT')
      return Promise.resolve(refusalAnswer(ctx.id, 403, err.message))
    },
  }
}
