/**
 * Cache keys: scheme, host and target, so GET and HEAD share entries. Pure.
 */

/**
 * The primary key of a request. The host is lowercased and a default port dropped, so
 * `Example.com:80` and `example.com` share entries; path and query are kept as received.
 */
export function primaryKey(scheme: string, host: string, target: string): string {
  let h = host.toLowerCase()
  if (scheme === 'http' && h.endsWith(':80')) h = h.slice(0, -3)
  else if (scheme === 'https' && h.endsWith(':443')) h = h.slice(0, -4)
  return `${scheme}://${h}${target}`
}

/** Key of one Vary variant stored under the marker `markerId` of `primary`. */
export function variantKey(primary: string, markerId: string, variant: string): string {
  return `${primary}\u0000${markerId}\u0000${variant}`
}
