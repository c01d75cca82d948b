/**
 * A store on this host (L1: the local store every worker shares, or memory in tests) in
 * front of a store shared by hosts (L2, Redis in practice). Hits in L1 cost no network; an
 * L2 hit fills L1; every write, delete and purge is published on an
 * invalidation bus so other instances drop their L1 copies. L2 sits behind a circuit
 * breaker: while it is down, reads are served from L1 or miss at once, writes stay local,
 * and purges fail loudly (a purge is never reported done when L2 did not see it).
 */
import type { CircuitBreaker } from './circuit-breaker.ts'
import type { CacheStore, PurgeOptions, PurgeSelector, StoredEntry, StoreStats } from './store.ts'

/** What one instance tells the others about its writes and purges. */
export type BusMessage =
  | { readonly kind: 'keys'; readonly keys: readonly string[] }
  | { readonly kind: 'purge'; readonly selector: PurgeSelector; readonly soft: boolean }

/** Why messages may have been missed: see InvalidationBus.subscribe. */
export type BusLoss = 'started' | 'disconnected' | 'reconnected'

export interface InvalidationBus {
  /** Sends `message` to every other instance (not back to this one). */
  publish(message: BusMessage): Promise<void>
  /**
   * Delivers other instances' messages. `onLost` is called whenever messages may have been
   * missed: at the first subscription (`started`: this instance was not listening before
   * it), when the subscription broke, and when it is back; delivery resumes once it is.
   */
  subscribe(onMessage: (message: BusMessage) => void, onLost: (why: BusLoss) => void): void
  close(): Promise<void>
}

/** An L1: a store that answers `peek` from this host, without I/O over the network. */
export type HostStore = CacheStore & Required<Pick<CacheStore, 'peek'>>

export interface TieredStoreDeps {
  readonly l1: HostStore
  readonly l2: CacheStore
  readonly bus: InvalidationBus
  readonly breaker: CircuitBreaker
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  /** Told when L1 was cleared because the bus lost messages (not at start), for metrics. */
  onL1Reset?(): void
}

export class TieredStore implements CacheStore {
  readonly #l1: HostStore
  readonly #l2: CacheStore
  readonly #bus: InvalidationBus
  readonly #breaker: CircuitBreaker
  readonly #deps: TieredStoreDeps

  constructor(deps: TieredStoreDeps) {
    this.#l1 = deps.l1
    this.#l2 = deps.l2
    this.#bus = deps.bus
    this.#breaker = deps.breaker
    this.#deps = deps
    deps.bus.subscribe(
      (message) => void this.#apply(message),
      (why) => {
        // Purges may have gone by unseen: what L1 holds can no longer be trusted. At start,
        // L1 is the local store this host kept while this instance was away.
        if (why === 'started') {
          deps.log.info(
            {},
            'invalidation bus subscribed; local tier cleared, as purges made before were not seen',
          )
        } else {
          deps.log.warn({ why }, 'invalidation bus lost its subscription, clearing the local tier')
          deps.onL1Reset?.()
        }
        void this.#l1.clear()
      },
    )
  }

  /** The L1 copy, if any: L2 is never asked without I/O. */
  peek(key: string): StoredEntry | undefined {
    return this.#l1.peek(key)
  }

  async get(key: string): Promise<StoredEntry | undefined> {
    const local = this.#l1.peek(key)
    if (local !== undefined) return local
    // While L2 is known to be down, miss at once rather than wait on it.
    if (this.#breaker.rejecting()) return undefined
    const shared = await this.#breaker.run(() => this.#l2.get(key))
    if (shared !== undefined) await this.#l1.set(key, withoutFetchTime(shared))
    return shared
  }

  async set(key: string, entry: StoredEntry): Promise<boolean> {
    let stored: boolean
    try {
      stored = await this.#breaker.run(() => this.#l2.set(key, entry))
    } catch (err) {
      // L2 is down: keep serving this instance from memory; L2 learns nothing of it.
      this.#deps.log.warn({ err }, 'shared store unavailable, storing in the memory tier only')
      return this.#l1.set(key, entry)
    }
    if (!stored) {
      await this.#l1.delete(key)
      return false
    }
    await this.#l1.set(key, entry)
    this.#announce({ kind: 'keys', keys: [key] })
    return true
  }

  async delete(key: string): Promise<boolean> {
    const local = await this.#l1.delete(key)
    const shared = await this.#breaker.run(() => this.#l2.delete(key))
    this.#announce({ kind: 'keys', keys: [key] })
    return shared || local
  }

  async clear(): Promise<void> {
    await this.#l1.clear()
    await this.#breaker.run(() => this.#l2.clear())
    this.#announce({ kind: 'purge', selector: { all: true }, soft: false })
  }

  async purge(selector: PurgeSelector, options: PurgeOptions): Promise<number> {
    // L2 must see every purge: a failure here reaches the caller, which answers 503.
    const purged = await this.#breaker.run(() => this.#l2.purge(selector, options))
    if (options.dryRun === true) return purged
    await this.#l1.purge(selector, options)
    this.#announce({ kind: 'purge', selector, soft: options.soft })
    return purged
  }

  keysForTag(tag: string): Promise<string[]> {
    return this.#breaker.run(() => this.#l2.keysForTag(tag))
  }

  /** The shared tier's figures: that is the cache every instance sees. */
  stats(): StoreStats {
    return this.#l2.stats()
  }

  /** The memory tier's figures. */
  l1Stats(): StoreStats {
    return this.#l1.stats()
  }

  async close(): Promise<void> {
    await this.#bus.close()
    await Promise.all([this.#l1.close(), this.#l2.close()])
  }

  async #apply(message: BusMessage): Promise<void> {
    if (message.kind === 'keys') {
      for (const key of message.keys) await this.#l1.delete(key)
    } else {
      await this.#l1.purge(message.selector, { soft: message.soft })
    }
  }

  #announce(message: BusMessage): void {
    this.#bus.publish(message).catch((err: unknown) => {
      this.#deps.log.warn({ err }, 'could not publish an invalidation to other instances')
    })
  }
}

/**
 * An L2 copy put in L1 has already passed L2's purge check; L1 must not refuse it again
 * for a purge it already reflects.
 */
function withoutFetchTime(entry: StoredEntry): StoredEntry {
  if (entry.fetchedAt === undefined) return entry
  const { fetchedAt: _, ...rest } = entry
  return rest
}
