/**
 * A list of IP addresses and CIDR ranges (IPv4 and IPv6) that client addresses are checked
 * against: trusted proxies, clients allowed to PURGE. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) count as the IPv4 address, on both sides.
 */
import { BlockList, isIP, isIPv4 } from 'node:net'

export interface AddressList {
  /** True when `address` (as node reports a peer) is in the list. */
  has(address: string): boolean
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; an IPv6 zone (`%eth0`) is dropped; others unchanged. */
export function unmappedAddress(address: string): string {
  let ip = address
  const zone = ip.indexOf('%')
  if (zone !== -1) ip = ip.slice(0, zone)
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && ip.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = ip.slice(7)
    if (isIPv4(v4)) return v4
  }
  return ip
}

/**
 * Builds the list from `entries`; `bad(i, entry)` makes the error for an entry that is not
 * an address or CIDR, so each caller names its own field.
 */
export function createAddressList(
  entries: readonly unknown[],
  bad: (index: number, entry: unknown) => Error,
): AddressList {
  const list = new BlockList()
  entries.forEach((entry, i) => {
    if (typeof entry !== 'string') throw bad(i, entry)
    const slash = entry.indexOf('/')
    let address = slash === -1 ? entry : entry.slice(0, slash)
    const version = isIP(address)
    if (version === 0 || address.includes('%')) throw bad(i, entry)
    const max = version === 4 ? 32 : 128
    let prefix = max
    if (slash !== -1) {
      const digits = entry.slice(slash + 1)
      if (!/^\d{1,3}$/.test(digits)) throw bad(i, entry)
      prefix = Number(digits)
      if (prefix > max) throw bad(i, entry)
    }
    let family: 'ipv4' | 'ipv6' = version === 4 ? 'ipv4' : 'ipv6'
    // Client addresses are unmapped before the check, so a mapped range becomes IPv4 too.
    const v4 = unmappedAddress(address)
    if (version === 6 && v4 !== address && prefix >= 96) {
      address = v4
      prefix -= 96
      family = 'ipv4'
    }
    list.addSubnet(address, prefix, family)
  })
  return {
    has(address) {
      const ip = unmappedAddress(address)
      const family = isIP(ip)
      if (family === 0) return false
      return list.check(ip, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}
