/**
 * The client's address as rate limits, request rules and `hash: client` see it: the peer's
 * address, unless the peer is a trusted proxy, in which case the nearest address in
 * X-Forwarded-For that is not itself a trusted proxy (walking from the right, since each
 * proxy appends). The leftmost entries are whatever the client wrote and are never
 * believed past an untrusted hop. Pure.
 */
import { isIP } from 'node:net'
import { type AddressList, createAddressList, unmappedAddress } from '../address-list.ts'
import { EdgecacheError } from '../errors.ts'
import type { RequestContext } from '../pipeline/context.ts'

/**
 * @example
 * const clientOf = createClientAddress(['10.0.0.0/8'])
 * clientOf(ctx) // '203.0.113.7' for a request from 10.0.0.2 with X-Forwarded-For: 203.0.113.7
 */
export function createClientAddress(trustedProxies: readonly string[]): (ctx: RequestContext) => string {
  const trusted: AddressList | undefined =
    trustedProxies.length === 0
      ? undefined
      : createAddressList(trustedProxies, (i, entry) => {
          return new EdgecacheError('EC_ERR_CONFIG_INVALID', [
            `server.trustedProxies[${i}]: expected an IP address or CIDR, got ${JSON.stringify(entry)}`,
          ])
        })
  return (ctx) => {
    const peer = unmappedAddress(ctx.clientAddress)
    if (trusted === undefined || !trusted.has(peer)) return peer
    const field = ctx.headers['x-forwarded-for']
    if (field === undefined) return peer
    const hops = (typeof field === 'string' ? field : field.join(',')).split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmappedAddress(hops[i]!.trim())
      if (isIP(hop) === 0) return peer
      if (!trusted.has(hop)) return hop
    }
    return peer
  }
}
