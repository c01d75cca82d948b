/**
 * What keeps the log readable when something goes wrong many times a second: expected
 * failures (a backend that refuses, Redis down, a client over a limit) are logged as their
 * message and code without a stack, and a warning or error repeated within a window is
 * logged once, the next one saying how many were held back.
 */
import { pino } from 'pino'

/** Network failures that say what happened in their code; a stack adds nothing. */
const EXPECTED_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
])

/**
 * pino's error serializer, without the stack for an expected error: an EdgecacheError (a
 * condition edgecache names on purpose, EC_ERR_INTERNAL aside) or a network failure.
 */
export function serializeError(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>
  if (isExpected(err) && typeof serialized === 'object' && serialized !== null) delete serialized.stack
  return serialized
}

function isExpected(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  if (code.startsWith('EC_ERR_')) return code !== 'EC_ERR_INTERNAL'
  if (EXPECTED_CODES.has(code)) return true
  // Redis clients name their connection failures this way.
  return (
    (err as Error).name === 'ConnectionTimeoutError' ||
    (err as Error).name === 'SocketClosedUnexpectedlyError'
  )
}

/** Distinct kinds of line tracked at once; past it the oldest window is forgotten. */
const MAX_KINDS = 1_000

/**
 * Decides, per kind of line (level, message and error code), whether a warning or error is
 * written: the first of a kind is, then none until `windowMs` has passed; the first after
 * that carries `suppressed`, the number held back.
 */
export function createRepeatLimiter(windowMs: number, now: () => number = Date.now) {
  const kinds = new Map<string, { until: number; suppressed: number }>()
  /** undefined: hold the line back; otherwise how many were held back before it. */
  return (kind: string): number | undefined => {
    const at = now()
    const seen = kinds.get(kind)
    if (seen !== undefined && at < seen.until) {
      seen.suppressed++
      return undefined
    }
    kinds.delete(kind)
    if (kinds.size >= MAX_KINDS) kinds.delete(kinds.keys().next().value as string)
    kinds.set(kind, { until: at + windowMs, suppressed: 0 })
    return seen?.suppressed ?? 0
  }
}
