/**
 * The diagnostics channels edgecache publishes on, and what each message carries. Stages,
 * stores and the upstream publish facts here; metrics.ts subscribes. Publishing costs
 * almost nothing when nobody subscribes (`channel.hasSubscribers` is checked first), and a
 * subscriber never changes a response.
 */
import { channel } from 'node:diagnostics_channel'
import type { CacheOutcome, TunnelOutcome } from '../pipeline/context.ts'
import type { InvalidationSource } from '../surrogate/invalidator.ts'

/** A request finished (or its client went away). */
export interface RequestFinished {
  readonly route: string
  readonly method: string
  readonly status: number
  readonly cache: CacheOutcome | undefined
  readonly collapsed: boolean
  readonly bytes: number
  readonly totalMs: number
  /** `1.0`, `1.1` or `2.0`; undefined from publishers that do not know it. */
  readonly httpVersion?: string
  /** `https` from the TLS listener. */
  readonly scheme?: 'http' | 'https'
}

/** An HTTP/2 connection was closed for cancelling too many streams (rapid reset). */
export type Http2RapidReset = Record<string, never>

/** The upstream answered with headers, or failed. */
export interface UpstreamFinished {
  /** The pool. */
  readonly upstream: string
  /** The server of the pool (its URL); undefined from publishers that do not know it. */
  readonly server?: string | undefined
  /** Undefined when it failed before answering. */
  readonly status: number | undefined
  readonly durationMs: number
  /** Set when it failed: refused, reset, timeout or bad-response. */
  readonly error: 'refused' | 'reset' | 'timeout' | 'bad-response' | undefined
}

/** A pool tried a request again on another server, or wanted to and the budget said no. */
export interface UpstreamRetry {
  readonly upstream: string
  readonly result: 'retried' | 'over-budget'
}

/**
 * A request lost with a reused keep-alive connection before any response byte was sent
 * again on another connection of the same server: the keep-alive race, not a retry.
 */
export interface UpstreamReplay {
  readonly upstream: string
  readonly server: string
}

/** A pool answered 503 without trying a server: none available, or its limits reached. */
export interface UpstreamRejected {
  readonly upstream: string
  readonly reason: 'unavailable' | 'busy'
}

/** A server was ejected by passive checks, or its active checks changed its state. */
export interface UpstreamServerChange {
  readonly upstream: string
  readonly server: string
  readonly change: 'ejected' | 'down' | 'up'
}

/** A request of a rate-limited route took a token, was refused one, or is on the allowlist. */
export interface RateLimitEvent {
  readonly route: string
  readonly result: 'allowed' | 'limited' | 'allowlisted'
}

/**
 * A rate limit decision was made by the host's own buckets because the shared ones (Redis)
 * could not answer.
 */
export type RateLimitFallback = Record<string, never>

/** A request rule matched: its action, and the rule's name. */
export interface RuleMatched {
  readonly rule: string
  readonly action: 'deny' | 'allow' | 'log' | 'tag'
}

export interface CacheStored {
  /** Freshness lifetime of the stored response, ms. */
  readonly ttlMs: number
  readonly bytes: number
}

export interface CacheNotStored {
  /** Cache-Status detail: no-store, private, too-large, incomplete … */
  readonly reason: string
}

export interface CacheEvicted {
  readonly reason: 'evict' | 'expire' | 'delete' | 'replace'
}

export interface BackgroundRevalidation {
  readonly result: 'updated' | 'not-modified' | 'failed' | 'not-storable'
}

export interface Invalidation {
  /**
   * Random, one per purge call. The call is published once, in the process that received
   * it, however many workers carried it out; the id lets a sum over workers' status reports
   * show it once whatever path it took.
   */
  readonly id: string
  /** What the call selected by; one call may select by several kinds at once. */
  readonly kinds: readonly ('tag' | 'url' | 'prefix' | 'all')[]
  readonly soft: boolean
  /** Entries purged by the whole call, counted once however many kinds reached them. */
  readonly purged: number
  /** When it happened, epoch ms. */
  readonly at: number
  /** What was purged, for the status page: at most the first 20 values of each kind. */
  readonly summary: string
  /** Who asked; `unsafe-method` is the RFC 9111 §4.4 invalidation after an unsafe method. */
  readonly source: InvalidationSource
}

export interface StorageError {
  readonly store: string
  /** `subscribe`: the invalidation bus lost its subscription and the local tier was cleared. */
  readonly op: 'get' | 'set' | 'delete' | 'purge' | 'subscribe'
}

/**
 * A miss claimed the shared fill lock (`acquired`), could not reach it (`unavailable`), or
 * waited for another instance's fill and learnt how it ended.
 */
export interface FillLockEvent {
  readonly result:
    | 'acquired'
    | 'unavailable'
    | 'stored'
    | 'uncacheable'
    | 'abandoned'
    | 'released'
    | 'timeout'
}

/** Tags a response lost to the per-response limits. */
export interface TagsDropped {
  readonly count: number
}

/** A connection was closed before HTTP over its PROXY protocol header (server/proxy-protocol-listener.ts). */
export interface ProxyProtocolRefused {
  readonly reason: 'untrusted' | 'malformed' | 'missing' | 'timeout'
}

/** An Upgrade request (a WebSocket) ended, with its tunnel or without one (see TunnelOutcome). */
export interface TunnelEnded {
  readonly outcome: TunnelOutcome
}

/** A route file reload was attempted. */
export interface RoutesReload {
  readonly ok: boolean
  readonly trigger: string
}

export const events = {
  routesReload: channel('edgecache:routes:reload'),
  tagsDropped: channel('edgecache:surrogate:tags-dropped'),
  requestFinished: channel('edgecache:request:finished'),
  http2RapidReset: channel('edgecache:server:http2-rapid-reset'),
  upstreamFinished: channel('edgecache:upstream:finished'),
  upstreamRetry: channel('edgecache:upstream:retry'),
  upstreamReplay: channel('edgecache:upstream:replay'),
  upstreamRejected: channel('edgecache:upstream:rejected'),
  upstreamServerChange: channel('edgecache:upstream:server-change'),
  rateLimit: channel('edgecache:limits:rate-limit'),
  rateLimitFallback: channel('edgecache:limits:rate-limit-fallback'),
  ruleMatched: channel('edgecache:limits:rule'),
  cacheStored: channel('edgecache:cache:stored'),
  cacheNotStored: channel('edgecache:cache:not-stored'),
  cacheEvicted: channel('edgecache:cache:evicted'),
  backgroundRevalidation: channel('edgecache:cache:background-revalidation'),
  invalidation: channel('edgecache:invalidation'),
  storageError: channel('edgecache:storage:error'),
  fillLock: channel('edgecache:cache:fill-lock'),
  proxyProtocolRefused: channel('edgecache:server:proxy-protocol-refused'),
  tunnelEnded: channel('edgecache:server:tunnel-ended'),
} as const

/** Publishes `message` on `ch` only when someone listens, so an idle channel costs a branch. */
export function publish<T extends object>(ch: ReturnType<typeof channel>, message: T): void {
  if (ch.hasSubscribers) ch.publish(message)
}
