/**
 * What to make of an `EDGECACHE_*` variable that names no config field: Kubernetes'
 * service links are not ours and pass in silence; anything else is likely a typo, worth a
 * warning with the nearest known name.
 */

/**
 * Kubernetes gives each pod variables for every Service in its namespace: a Service named
 * `edgecache` (or `edgecache-admin`) yields `EDGECACHE_SERVICE_HOST`, `EDGECACHE_PORT`,
 * `EDGECACHE_PORT_8000_TCP_ADDR`, `EDGECACHE_ADMIN_SERVICE_PORT_HTTP` and the like.
 */
const SERVICE_LINK =
  /^EDGECACHE_(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)$/

export function isServiceLink(name: string): boolean {
  return SERVICE_LINK.test(name)
}

/** The known name closest to `name`, when close enough to be what was meant. */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of known) {
    const distance = editDistance(name, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  // A third of the name's own length (past the prefix) still reads as a typo, not another word.
  return bestDistance <= Math.max(2, Math.floor((name.length - 'EDGECACHE_'.length) / 3)) ? best : undefined
}

/** Levenshtein distance, two rows at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
