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
import { type AddressList, createAddressList, unmappedAddress } from '../address-list.ts'
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
  /**
   * Request fields a backend may read as the client's host, scheme, port or path prefix,
   * and which are not part of the cache key: believed from trusted proxies, removed from
   * anyone else, as X-Forwarded-Host is. Otherwise one client could make an origin that
   * reflects them store a poisoned page for everyone.
   * @default defaultProxyOnlyFields
   */
  readonly proxyOnlyFields?: readonly string[]
  /** Host sent to the backend instead of the client's. @default undefined (the client's Host) */
  readonly hostOverride?: string | undefined
  /**
   * The field that carries the verified client certificate's subject (`ctx.clientSubject`,
   * mTLS) to the backend. Always removed from what the client sent, so no client can claim
   * a subject it did not prove. @default undefined (no such field)
   */
  readonly clientSubjectField?: string | undefined
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

/** Fields believed only from trusted proxies, beside the X-Forwarded-* edgecache sets itself. */
export const defaultProxyOnlyFields: readonly string[] = [
  'x-host',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-ssl',
  'x-original-host',
  'x-http-host-override',
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
  const proxyOnly = validateStripList(options.proxyOnlyFields ?? defaultProxyOnlyFields, 'proxyOnlyFields')
  const hostOverride = validateHostOverride(options.hostOverride)
  const subjectField =
    options.clientSubjectField === undefined
      ? undefined
      : validateStripList([options.clientSubjectField], 'clientSubjectField')[0]

  const treatments = new Map<string, Treatment>()
  for (const name of hopByHopFields) treatments.set(name, 'drop')
  for (const name of strip) treatments.set(name, 'drop')
  // RFC 9110 §10.1.1 lets a proxy answer 100-continue itself, as node:http does; undici
  // refuses to send Expect, so it stops here.
  treatments.set('expect', 'drop')
  for (const name of forwardingFields) treatments.set(name, 'forwarding')
  for (const name of proxyOnly) treatments.set(name, 'forwarding')
  for (const name of ownFields) treatments.set(name, 'own')
  if (subjectField !== undefined) treatments.set(subjectField, 'drop')

  return {
    requestHeaders(ctx) {
      const headers = ctx.headers
      const isTrusted = trusted?.has(ctx.clientAddress) === true
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
        // Backends in the CGI tradition read X_Forwarded_For as X-Forwarded-For: a field
        // that is one of the above but for `_` in place of `-` would pass for edgecache's
        // own (or one it strips), so it goes with it. Other names with `_` are forwarded.
        if (name.includes('_') && treatments.has(name.replaceAll('_', '-'))) continue
        out[name] = value
      }

      const client = unmappedAddress(ctx.clientAddress)
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
      if (subjectField !== undefined && ctx.clientSubject !== undefined) out[subjectField] = ctx.clientSubject
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

function invalid(detail: string): EdgecacheError {
  return new EdgecacheError('EC_ERR_CONFIG_INVALID', [`forwarding: ${detail}`])
}

function buildTrustedList(entries: readonly unknown[]): AddressList | undefined {
  if (!Array.isArray(entries)) throw invalid(`trustedProxies must be an array, got ${typeof entries}`)
  if (entries.length === 0) return undefined
  return createAddressList(entries, (i, entry) =>
    invalid(`trustedProxies[${i}] must be an IP address or CIDR, got ${JSON.stringify(entry)}`),
  )
}

function validateStripList(names: readonly unknown[], field = 'stripRequestHeaders'): readonly string[] {
  if (!Array.isArray(names)) throw invalid(`${field} must be an array, got ${typeof names}`)
  return names.map((name, i) => {
    const lower = typeof name === 'string' ? name.toLowerCase() : ''
    if (!tokenPattern.test(lower)) {
      throw invalid(`${field}[${i}] must be a header field name, got ${JSON.stringify(name)}`)
    }
    if (ownFields.has(lower) || lower === 'via') {
      throw invalid(`${field}[${i}]: ${lower} is set by edgecache and cannot be stripped`)
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
