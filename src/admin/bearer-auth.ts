/**
 * Bearer-token checks for admin endpoints (RFC 6750 §2.1). The presented token is compared
 * with every configured one in constant time, and never kept, logged or returned.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { EdgecacheError } from '../errors.ts'
import { sendError } from './json-reply.ts'
import { createHash, timingSafeEqual } from 'node:crypto'

/** What a request's Authorization field proved. */
export type BearerVerdict = 'ok' | 'missing' | 'invalid'

export interface BearerAuth {
  /** False when no token is configured: the endpoint is then refused to everyone. */
  readonly configured: boolean
  /** Checks an Authorization field value against the configured tokens. */
  check(authorization: string | undefined): BearerVerdict
}

// RFC 9110 §11.1: the scheme is case-insensitive. RFC 6750 §2.1: one b64token after it.
const bearerPattern = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

/** The tokens, or where to read the ones in force (a reload may replace them). */
export type TokenSource = readonly string[] | (() => readonly string[])

/**
 * @example
 * const auth = createBearerAuth(config.admin.tokens)
 * if (auth.check(req.headers.authorization) !== 'ok') refuse()
 */
export function createBearerAuth(source: TokenSource): BearerAuth {
  const current = typeof source === 'function' ? source : () => source
  let tokens: readonly string[] | undefined
  let digests: Buffer[] = []
  // Comparing fixed-length digests makes timingSafeEqual usable (it needs equal lengths) and
  // keeps the time independent of the configured tokens' lengths. Made again only when a
  // reload put other tokens in force.
  const digestsNow = () => {
    const now = current()
    if (now !== tokens) {
      tokens = now
      digests = now.map(digest)
    }
    return digests
  }
  return {
    get configured() {
      return digestsNow().length > 0
    },
    check(authorization) {
      const match = authorization === undefined ? null : bearerPattern.exec(authorization)
      if (match === null) return 'missing'
      const presented = digest(match[1] ?? '')
      let matched = false
      // Every token is compared, whether or not one already matched, so the time taken
      // does not tell which one (or how many) there are before the match.
      for (const candidate of digestsNow()) matched = timingSafeEqual(candidate, presented) || matched
      return matched ? 'ok' : 'invalid'
    },
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

/**
 * Answers 403 (no token configured) or 401 (token missing or wrong) and returns false, or
 * returns true for a request with a valid token. The token itself is never logged.
 */
export function authorized(
  auth: BearerAuth,
  req: IncomingMessage,
  res: ServerResponse,
  log: { warn(obj: object, msg: string): void },
  action: string,
): boolean {
  const client = req.socket.remoteAddress
  if (!auth.configured) {
    log.warn({ client }, `${action} refused: no admin token configured`)
    sendError(res, new EdgecacheError('EC_ERR_ADMIN_NO_TOKENS'))
    return false
  }
  const verdict = auth.check(req.headers.authorization)
  if (verdict === 'ok') return true
  log.warn({ client, reason: verdict }, `${action} refused: bad credentials`)
  // RFC 6750 §3: a challenge on every 401, with error="invalid_token" when one was given.
  const challenge =
    verdict === 'invalid'
      ? 'Bearer realm="edgecache-admin", error="invalid_token"'
      : 'Bearer realm="edgecache-admin"'
  const code = verdict === 'invalid' ? 'EC_ERR_ADMIN_TOKEN_INVALID' : 'EC_ERR_ADMIN_TOKEN_MISSING'
  sendError(res, new EdgecacheError(code), { 'www-authenticate': challenge })
  return false
}
