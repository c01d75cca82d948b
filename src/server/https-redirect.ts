/**
 * The plain listener's answer when `tls.redirectHttp` is on: every request gets a 308 to
 * the same host and target on https (308 rather than 301 keeps the method and body of a
 * POST). Nothing reaches the cache or a backend. A pipeline, so the listener's limits,
 * request ids, access lines and metrics apply as to any other answer.
 */
import type { Pipeline } from '../pipeline/compose.ts'
import { refusalAnswer, textAnswer } from '../pipeline/answer.ts'

/**
 * @param port the https port the redirect names; 443 is left out of the URL.
 * @example
 * const pipeline = createHttpsRedirect(8443)
 */
export function createHttpsRedirect(port: number): Pipeline {
  const suffix = port === 443 ? '' : `:${port}`
  return async (ctx) => {
    // HTTP/1.0 may leave Host out, and then there is no name to redirect to.
    if (ctx.host === '') return refusalAnswer(ctx.id, 400, 'bad request: missing Host field')
    const location = `https://${hostname(ctx.host)}${suffix}${ctx.target === '*' ? '/' : ctx.target}`
    return textAnswer(308, `308 permanent redirect to ${location}`, { location })
  }
}

/** The host without its port (`[::1]:8000` → `[::1]`). */
function hostname(host: string): string {
  const colon = host.lastIndexOf(':')
  if (colon === -1 || host.endsWith(']')) return host
  return host.slice(0, colon)
}
