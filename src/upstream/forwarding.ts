/**
 * Which header fields go to the backend and which come back: hop-by-hop fields removed,
 * the forwarding fields (X-Forwarded-*, Forwarded, X-Real-IP) set by edgecache unless a
 * trusted proxy sent them, fields that ask a backend to change method or path removed, Via
 * and X-Request-Id added. Pure: it maps header fields and does no I/O.
 *
 * Forwarding fields from an untrusted client are replaced, never appended to: a backend
 * that believes the leftmost X-Forwarded-For would otherwise believe whatever the client
 * wrote there. Only a peer listed in `trustedProxies` (a load balancer in front of
 * edgecache) has its X-Forwarded-For extended and its other forwarding fields kept.
 * `Forwarded` (RFC 7239) is not generated; edgecache speaks the X-Forwarded-* dialect most
 * backends read, and drops an untrusted client's `Forwarded` so no backend trusts it.
 */
import { BlockList, isIP, isIPv4 } from 'node:net'
import { EdgecacheError } from '../errors.ts'
import type { ResponseHeaders } from '../pipeline/answer.ts'
import type { HeaderMap, RequestContext } from '../pipeline/context.ts'
import { connectionOptions, hopByHopFields, withoutHopByHop } from './hop-by-hop.ts'

export interface ForwardingOptions {
  /**
   * Peers whose forwarding fields are believed: IP addresses and CIDR ranges, IPv4 or IPv6.
   * An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is treated as the IPv4 address.
   * @default []
   */
  readonly trustedProxies?: readonly string[]
  /**
   * Request fields removed before forwarding because they ask a backend to act on another
   * method or path than the one edgecache routed and cached.
   * @default ['x-http-method-override', 'x-original-url', 'x-rewrite-url']
   */
  readonly stripRequestHeaders?: readonly string[]
  /** Host sent to the backend instead of the client's. @default undefined (the client's Host) */
  readonly hostOverride?: string | undefined
}

export interface Forwarding {
  /** Header fields to send upstream for `ctx`. */
  requestHeaders(ctx: RequestContext): Record<string, string | string[]>
  /** The backend's response fields as edgecache passes them on: hop-by-hop removed, Via added. */
  responseHeaders(upstreamHeaders: HeaderMap): ResponseHeaders
}

/** Request fields that ask a backend to override the method or path, removed by default. */
export const defaultStripRequestHeaders: readonly string[] = [
  'x-http-method-override',
  'x-original-url',
  'x-rewrite-url',
]

/** The Via entry edgecache adds, RFC 9110 §7.6.3: received-protocol and a pseudonym. */
const viaEntry = '1.1 edgecache'

/** Forwarding fields: kept from a trusted proxy, otherwise replaced or (Forwarded) dropped. */
const forwardingFields = ['x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded'] as const

/** Fields edgecache always sets itself, whatever the client sent. */
const ownFields = new Set(['host', 'x-request-id', 'x-forwarded-for'])

/** What happens to a request field with a special name; any other field is copied. */
type Treatment = 'drop' | 'forwarding' | 'own'

const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/
const hostPattern = /^[\w.\-~%!$&'()*+,;=:[\]]+$/

/**
 * Builds the forwarding rules once from validated options, so a request costs one Map
 * lookup per field.
 *
 * @example
 * const forwarding = createForwarding({ trustedProxies: ['10.0.0.0/8', 'fd00::/8'] })
 * const headers = forwarding.requestHeaders(ctx)
 */
export function createForwarding(options: ForwardingOptions = {}): Forwarding {
  const trusted = buildTrustedList(options.trustedProxies ?? [])
  const strip = validateStripList(options.stripRequestHeaders ?? defaultStripRequestHeaders)
  const hostOverride = validateHostOverride(options.hostOverride)

  const treatments = new Map<string, Treatment>()
  for (const name of hopByHopFields) treatments.set(name, 'drop')
  for (const name of strip) treatments.set(name, 'drop')
  // RFC 9110 §10.1.1 lets a proxy answer 100-continue itself, as node:http does; undici
  // refuses to send Expect, so it stops here.
  treatments.set('expect', 'drop')
  for (const name of forwardingFields) treatments.set(name, 'forwarding')
  for (const name of ownFields) treatments.set(name, 'own')

  return {
    requestHeaders(ctx) {
      const headers = ctx.headers
      const isTrusted = trusted !== undefined && isTrustedPeer(trusted, ctx.clientAddress)
      const named = connectionOptions(headers.connection)
      const out: Record<string, string | string[]> = {}
      for (const name in headers) {
        const value = headers[name]
        if (value === undefined) continue
        const treatment = treatments.get(name)
        if (treatment !== undefined) {
          if (treatment === 'forwarding' && isTrusted && !named?.has(name)) out[name] = value
          continue
        }
        // RFC 9110 §7.6.1: proxy-* fields are for this hop; RFC 9113 §8.3: pseudo-header
        // fields (":path") from an HTTP/2 client are not header fields of the message.
        if (name.startsWith('proxy-') || name.charCodeAt(0) === 58 || named?.has(name)) continue
        if (name === '__proto__') continue
        out[name] = value
      }

      const client = unmapped(ctx.clientAddress)
      const theirs = isTrusted && !named?.has('x-forwarded-for') ? headers['x-forwarded-for'] : undefined
      const chain = theirs === undefined ? '' : joinList(theirs)
      if (client !== '') out['x-forwarded-for'] = chain === '' ? client : `${chain}, ${client}`
      else if (chain !== '') out['x-forwarded-for'] = chain
      // A trusted proxy's own values were copied above; ours fill in only what it left out.
      out['x-forwarded-proto'] ??= ctx.scheme
      if (ctx.host !== '') out['x-forwarded-host'] ??= ctx.host
      if (client !== '') out['x-real-ip'] ??= client
      // RFC 9110 §7.6.3: a proxy appends its entry to Via in each message it forwards.
      out.via = appendVia(out.via)
      out['x-request-id'] = ctx.id
      const host = hostOverride ?? ctx.host
      if (host !== '') out.host = host
      return out
    },

    responseHeaders(upstreamHeaders) {
      const out = withoutHopByHop(upstreamHeaders)
      out.via = appendVia(out.via)
      return out
    },
  }
}

function appendVia(existing: string | string[] | undefined): string {
  if (existing === undefined) return viaEntry
  const list = joinList(existing)
  return list === '' ? viaEntry : `${list}, ${viaEntry}`
}

function joinList(value: string | readonly string[]): string {
  return (typeof value === 'string' ? value : value.join(', ')).trim()
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; an IPv6 zone (`%eth0`) is dropped; others unchanged. */
function unmapped(address: string): string {
  let ip = address
  const zone = ip.indexOf('%')
  if (zone !== -1) ip = ip.slice(0, zone)
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && ip.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = ip.slice(7)
    if (isIPv4(v4)) return v4
  }
  return ip
}

function isTrustedPeer(list: BlockList, address: string): boolean {
  const ip = unmapped(address)
  const family = isIP(ip)
  if (family === 0) return false
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
}

function invalid(detail: string): EdgecacheError {
  return new EdgecacheError('EC_ERR_CONFIG_INVALID', [`forwarding: ${detail}`])
}

function buildTrustedList(entries: readonly unknown[]): BlockList | undefined {
  if (!Array.isArray(entries)) throw invalid(`trustedProxies must be an array, got ${typeof entries}`)
  if (entries.length === 0) return undefined
  const list = new BlockList()
  entries.forEach((entry, i) => {
    const bad = () =>
      invalid(`trustedProxies[${i}] must be an IP address or CIDR, got ${JSON.stringify(entry)}`)
    if (typeof entry !== 'string') throw bad()
    const slash = entry.indexOf('/')
    let address = slash === -1 ? entry : entry.slice(0, slash)
    const version = isIP(address)
    if (version === 0 || address.includes('%')) throw bad()
    const max = version === 4 ? 32 : 128
    let prefix = max
    if (slash !== -1) {
      const digits = entry.slice(slash + 1)
      if (!/^\d{1,3}$/.test(digits)) throw bad()
      prefix = Number(digits)
      if (prefix > max) throw bad()
    }
    let family: 'ipv4' | 'ipv6' = version === 4 ? 'ipv4' : 'ipv6'
    // Client addresses are unmapped before the check, so a mapped range becomes IPv4 too.
    const v4 = unmapped(address)
    if (version === 6 && v4 !== address && prefix >= 96) {
      address = v4
      prefix -= 96
      family = 'ipv4'
    }
    list.addSubnet(address, prefix, family)
  })
  return list
}

function validateStripList(names: readonly unknown[]): readonly string[] {
  if (!Array.isArray(names)) throw invalid(`stripRequestHeaders must be an array, got ${typeof names}`)
  return names.map((name, i) => {
    const lower = typeof name === 'string' ? name.toLowerCase() : ''
    if (!tokenPattern.test(lower)) {
      throw invalid(`stripRequestHeaders[${i}] must be a header field name, got ${JSON.stringify(name)}`)
    }
    if (ownFields.has(lower) || lower === 'via') {
      throw invalid(`stripRequestHeaders[${i}]: ${lower} is set by edgecache and cannot be stripped`)
    }
    return lower
  })
}

function validateHostOverride(host: unknown): string | undefined {
  if (host === undefined) return undefined
  if (typeof host !== 'string' || !hostPattern.test(host)) {
    throw invalid(`hostOverride must be a host name with an optional port, got ${JSON.stringify(host)}`)
  }
  return host
}
