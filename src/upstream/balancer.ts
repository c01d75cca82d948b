/**
 * Picks a server of a pool for one request: smooth weighted round robin, least connections
 * per weight, or a weighted rendezvous hash of a key. Pure: it sees only the candidates it is
 * given (those available now, in pool order) and their weights and loads; no I/O, no clock.
 *
 * Round robin is nginx's smooth weighted round robin: weights 2:1 give a b a a b a, never
 * a a b in a burst, and the split holds over any window of sum(weights) picks.
 *
 * Hashing is rendezvous (highest random weight) hashing: each server scores
 * `-weight / ln(u)`, with u in (0, 1) from a hash of the key and the server, and the highest
 * score wins. One key goes to one server for as long as that server is available, and when a
 * server leaves only its own keys move, spread over the others in proportion to their
 * weights. A tier of edgecache instances hashing on the cache key thus each keep their share
 * of the key space. Its cost is one hash per server, fine for the handful a pool has.
 */

/** What the balancer needs of a server. */
export interface Candidate {
  /** Stable identity: the server's URL. Hashing uses it, so it must not change between picks. */
  readonly url: string
  readonly weight: number
  /** Requests in flight on it now, for least connections. */
  readonly active: number
}

export type BalanceMode = 'round-robin' | 'least-connections' | 'hash'

export interface Balancer {
  /**
   * One of `candidates` (not empty), by its index. `key` is what `hash` hashes; the other
   * modes ignore it.
   */
  pick(candidates: readonly Candidate[], key: string): number
}

/**
 * @example
 * const balancer = createBalancer('round-robin')
 * const index = balancer.pick([{ url: 'a', weight: 2, active: 0 }, { url: 'b', weight: 1, active: 0 }], '')
 */
export function createBalancer(mode: BalanceMode): Balancer {
  switch (mode) {
    case 'round-robin':
      return smoothRoundRobin()
    case 'least-connections':
      return leastConnections()
    case 'hash':
      return rendezvous()
  }
}

function smoothRoundRobin(): Balancer {
  // Current weight per server id; a server not among the candidates keeps its value, so a
  // server that comes back resumes its place in the rotation.
  const current = new Map<string, number>()
  return {
    pick(candidates) {
      if (candidates.length === 1) return 0
      let total = 0
      let best = 0
      let bestWeight = Number.NEGATIVE_INFINITY
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]!
        const weight = (current.get(c.url) ?? 0) + c.weight
        current.set(c.url, weight)
        total += c.weight
        if (weight > bestWeight) {
          bestWeight = weight
          best = i
        }
      }
      const chosen = candidates[best]!
      current.set(chosen.url, bestWeight - total)
      return best
    },
  }
}

function leastConnections(): Balancer {
  // Ties go round: otherwise an idle pool would send everything to its first server.
  let turn = 0
  return {
    pick(candidates) {
      if (candidates.length === 1) return 0
      turn = (turn + 1) % candidates.length
      let best = -1
      let bestLoad = Number.POSITIVE_INFINITY
      for (let n = 0; n < candidates.length; n++) {
        const i = (turn + n) % candidates.length
        const c = candidates[i]!
        const load = c.active / c.weight
        if (load < bestLoad) {
          bestLoad = load
          best = i
        }
      }
      return best
    },
  }
}

function rendezvous(): Balancer {
  const seeds = new Map<string, number>()
  return {
    pick(candidates, key) {
      if (candidates.length === 1) return 0
      const keyHash = fnv1a(key)
      let best = 0
      let bestScore = Number.NEGATIVE_INFINITY
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i]!
        let seed = seeds.get(c.url)
        if (seed === undefined) {
          seed = fnv1a(c.url)
          seeds.set(c.url, seed)
        }
        // u in (0, 1): never 0 (ln would be -Infinity) nor 1 (ln 0 divides by zero).
        const u = (mix(keyHash ^ seed) + 0.5) / 4294967296
        const score = -c.weight / Math.log(u)
        if (score > bestScore) {
          bestScore = score
          best = i
        }
      }
      return best
    },
  }
}

/** FNV-1a, 32 bits, over UTF-16 code units: fast, and well spread once mixed. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
function mix(value: number): number {
  let h = value >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
