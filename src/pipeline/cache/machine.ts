/**
 * What the cache stage's steps share. The stage is a small state machine after Varnish's
 * request states (cache_req_fsm.c): lookup, then hit, miss, pass or revalidate, ending in
 * deliver (an answer from the origin or the store) or synth (one edgecache makes up).
 * Each step is a function in a file of its own that takes this machine and returns the
 * next step's result; docs/architecture.md draws them. Built once per stage (stage.ts).
 */
import type { AdmissionOptions } from '../../cache/admission.ts'
import type { CacheStatusParams } from '../../cache/cache-status.ts'
import type { Clock } from '../../clock.ts'
import type { CacheStore } from '../../storage/store.ts'
import type { Invalidator } from '../../surrogate/invalidator.ts'
import type { Collapser } from '../collapser.ts'
import type { RequestContext } from '../context.ts'
import type { PassMemory } from '../pass-memory.ts'
import type { SharedCollapser } from '../shared-collapser.ts'
import type { StoredEncodings } from './encodings.ts'
import type { CacheEntries } from './entries.ts'
import type { FillMemory } from './fill-body.ts'

export interface CacheStageLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface CacheStageDeps {
  readonly store: CacheStore
  readonly clock: Clock
  readonly collapser: Collapser
  /** Collapsing across instances, behind the in-process collapser. @default none */
  readonly sharedCollapser?: SharedCollapser
  readonly log: CacheStageLog
  /** The cache's name in Cache-Status. @default 'edgecache' */
  readonly name: string
  /** Largest body stored, bytes; larger responses pass through. */
  readonly maxObjectBytes: number
  /** How long a stale response with a validator is kept for revalidation, ms. */
  readonly keepMs: number
  /**
   * How long past its freshness a stored response may stand in when the origin cannot be
   * reached (a route may say otherwise), ms; kept that long too. @default 0
   */
  readonly staleIfDisconnectedMs?: number
  /**
   * What a single-range GET that misses fetches (a route may say otherwise): the whole
   * response, or the range, kept as a part (parts.ts). @default 'whole'
   */
  readonly rangeRequests?: 'whole' | 'parts'
  /**
   * Least time between background refreshes of a stored response that arrived stale, ms
   * (cache.refreshInterval; refreshDue). @default 0, a refresh at every stale answer
   */
  readonly refreshIntervalMs?: number
  /** How long a collapsed request waits for the one that went upstream, ms. */
  readonly collapseTimeoutMs: number
  /** Bytes held by this process's fills in progress. @default 128 MiB */
  readonly fillMemory?: FillMemory
  readonly admission: AdmissionOptions
  /** Carries out RFC 9111 §4.4 invalidations. */
  readonly invalidator: Invalidator
  /**
   * The URL part of the key a GET for this URL is stored under (router/cache-key.ts),
   * for §4.4 invalidation. @default the target as received
   */
  readonly urlKeyOf?: (scheme: string, host: string, target: string) => string
  /** The store's name in metrics: its driver. */
  readonly storeName: string
  /**
   * Whether this request's own Cache-Control and Pragma count; when not, only
   * only-if-cached and no-store do (withoutRefresh). @default always
   */
  readonly honoursRequestDirectives?: (ctx: RequestContext) => boolean
  /** Compression's hooks on lookups and delivery (encodings.ts). @default none */
  readonly encodings?: StoredEncodings | undefined
}

export interface CacheMachine {
  /** The stage's settings; name, keepMs, collapseTimeoutMs and admission are read at each use (reloads). */
  readonly deps: CacheStageDeps
  readonly clock: Clock
  readonly collapser: Collapser
  readonly sharedCollapser: SharedCollapser | undefined
  readonly log: CacheStageLog
  readonly entries: CacheEntries
  /** Keys lately answered uncacheable (hit-for-miss). */
  readonly passMemory: PassMemory
  readonly fillMemory: FillMemory
  /** Stored responses being refreshed in the background now, by key. */
  readonly refreshing: Set<string>
  /** Cache-Status under the cache's name. */
  status(params: CacheStatusParams): string
}

export function noop(): void {}
