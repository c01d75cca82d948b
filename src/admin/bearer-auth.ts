/**
 * Bearer-token checks for admin endpoints (RFC 6750 §2.1). The presented token is compared
 * with every configured one in constant time, and never kept, logged or returned.
 */
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

/**
 * @example
 * const auth = createBearerAuth(config.admin.tokens)
 * if (auth.check(req.headers.authorization) !== 'ok') refuse()
 */
export function createBearerAuth(tokens: readonly string[]): BearerAuth {
  // Comparing fixed-length digests makes timingSafeEqual usable (it needs equal lengths) and
  // keeps the time independent of the configured tokens' lengths.
  const digests = tokens.map(digest)
  return {
    configured: digests.length > 0,
    check(authorization) {
      const match = authorization === undefined ? null : bearerPattern.exec(authorization)
      if (match === null) return 'missing'
      const presented = digest(match[1] ?? '')
      let matched = false
      // Every token is compared, whether or not one already matched, so the time taken
      // does not tell which one (or how many) there are before the match.
      for (const candidate of digests) matched = timingSafeEqual(candidate, presented) || matched
      return matched ? 'ok' : 'invalid'
    },
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
