/**
 * A route's `rateLimit:` as the route file writes it, checked and normalised:
 * `{ rate: 10/s, burst: 10, key: client | header:NAME | param:NAME, allow: [CIDR, ...] }`.
 * Pure; problems name the route and the field.
 */
import { isIpOrCidr, show } from '../config/fields.ts'

/** What a bucket is keyed by. */
export type RateLimitKey =
  | { readonly kind: 'client' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'param'; readonly name: string }

export interface RateLimitSpec {
  /** Tokens a second. */
  readonly rate: number
  /** Most tokens a bucket holds: requests allowed at once after a quiet spell. */
  readonly burst: number
  readonly key: RateLimitKey
  /** Client addresses and CIDRs never limited, as written. */
  readonly allow: readonly string[]
}

const ratePattern = /^(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)$/
const perUnit: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 }
const fieldNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const fields = new Set(['rate', 'burst', 'key', 'allow'])

/**
 * @returns the spec, or undefined with `problems` added.
 * @example checkRateLimit({ rate: '10/s' }, 'routes[0] (api).rateLimit', ['id'], problems)
 */
export function checkRateLimit(
  raw: unknown,
  where: string,
  params: readonly string[] | undefined,
  problems: string[],
): RateLimitSpec | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`${where}: expected a mapping such as { rate: 10/s, burst: 20 }, got ${show(raw)}`)
    return undefined
  }
  const before = problems.length
  const input = raw as Record<string, unknown>
  for (const name of Object.keys(input))
    if (!fields.has(name)) problems.push(`${where}.${name}: unknown field`)
  const match = typeof input.rate === 'string' ? ratePattern.exec(input.rate.trim()) : null
  const rate = match === null ? undefined : Number(match[1]) / (perUnit[match[2]!] ?? 1)
  if (rate === undefined || !(rate > 0)) {
    problems.push(
      `${where}.rate: expected requests per time such as "10/s", "600/m" or "1000/h", got ${show(input.rate)}`,
    )
  }
  let burst = Math.max(1, Math.ceil(rate ?? 1))
  if (input.burst !== undefined) {
    if (Number.isSafeInteger(input.burst) && (input.burst as number) >= 1) burst = input.burst as number
    else problems.push(`${where}.burst: expected an integer >= 1, got ${show(input.burst)}`)
  }
  const key = checkKey(input.key ?? 'client', `${where}.key`, params, problems)
  const allow: string[] = []
  if (input.allow !== undefined) {
    if (!Array.isArray(input.allow))
      problems.push(`${where}.allow: expected a list of IPs or CIDRs, got ${show(input.allow)}`)
    else {
      for (const [index, entry] of input.allow.entries()) {
        if (typeof entry === 'string' && isIpOrCidr(entry)) allow.push(entry)
        else
          problems.push(
            `${where}.allow[${index}]: expected an IP address or CIDR like "10.0.0.0/8", got ${show(entry)}`,
          )
      }
    }
  }
  if (problems.length > before || rate === undefined || key === undefined) return undefined
  return { rate, burst, key, allow }
}

function checkKey(
  raw: unknown,
  where: string,
  params: readonly string[] | undefined,
  problems: string[],
): RateLimitKey | undefined {
  if (raw === 'client') return { kind: 'client' }
  if (typeof raw === 'string' && raw.startsWith('header:') && fieldNamePattern.test(raw.slice(7))) {
    return { kind: 'header', name: raw.slice(7).toLowerCase() }
  }
  if (typeof raw === 'string' && raw.startsWith('param:')) {
    const name = raw.slice(6)
    if (params !== undefined && !params.includes(name)) {
      problems.push(
        `${where}: unknown parameter "${name}" (${params.length === 0 ? 'path has none' : `path has: ${params.join(', ')}`})`,
      )
      return undefined
    }
    return { kind: 'param', name }
  }
  problems.push(`${where}: expected client, header:NAME or param:NAME, got ${show(raw)}`)
  return undefined
}
