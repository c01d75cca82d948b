/**
 * The memory store's options: their types, defaults and checks, apart from the store so
 * that memory-store.ts holds only the store. Re-exported from memory-store.ts.
 */
import { type Clock, systemClock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'

/**
 * Why an entry left the store: `evict` (pushed out to make room), `expire` (past its
 * `expiresAt`), `delete` (`delete`, `clear` or a hard purge), `replace` (a `set` under
 * its key, including a refused one).
 */
export type EvictReason = 'evict' | 'expire' | 'delete' | 'replace'

export interface MemoryStoreOptions {
  /**
   * Most bytes held, counted as `stats().bytes` counts them: body, key, metadata
   * estimate and a fixed per-entry overhead.
   * @default 268_435_456 (256 MiB)
   */
  readonly maxBytes?: number
  /**
   * Largest single entry, counted the same way; a bigger one is refused. At most `maxBytes`.
   * @default the smaller of 8 MiB and `maxBytes`
   */
  readonly maxObjectBytes?: number
  /** Where the store reads the time; `expiresAt` is compared with it. @default systemClock */
  readonly clock?: Clock
  /**
   * How often expired entries nobody asked for are swept out; 0 turns the sweep off
   * (they then leave when read or when room is needed).
   * @default 60_000
   */
  readonly sweepIntervalMs?: number
  /**
   * How long a purge is remembered, so that an entry fetched before it and stored after it
   * is refused (hard purge) or stored invalidated (soft purge). An entry fetched before a
   * purge the store no longer remembers is refused, so this should exceed the longest
   * fetch.
   * @default 300_000 (5 minutes)
   */
  readonly purgeLogWindowMs?: number
  /**
   * Most purges remembered at once, whatever `purgeLogWindowMs` says; the oldest are
   * forgotten first, with the same consequence.
   * @default 10_000
   */
  readonly purgeLogMaxRecords?: number
  /**
   * Called once for every entry that leaves the store, whatever the reason, after it has
   * left (for `replace`, the key may already hold the new entry). It may call the store.
   * It must not throw: an error propagates out of the store call that removed the entry.
   */
  readonly onEvict?: (key: string, reason: EvictReason) => void
}

const MiB = 1024 * 1024
const DEFAULT_MAX_BYTES = 256 * MiB
const DEFAULT_MAX_OBJECT_BYTES = 8 * MiB
const DEFAULT_SWEEP_INTERVAL_MS = 60_000
const DEFAULT_PURGE_LOG_WINDOW_MS = 5 * 60_000
const DEFAULT_PURGE_LOG_MAX_RECORDS = 10_000

/** The options with every default filled in, checked. */
export interface CheckedOptions {
  readonly maxBytes: number
  readonly maxObjectBytes: number
  readonly clock: Clock
  readonly sweepIntervalMs: number
  readonly onEvict: MemoryStoreOptions['onEvict']
  readonly purgeLogWindowMs: number
  readonly purgeLogMaxRecords: number
}

/** Fills in defaults and checks each field; throws EC_ERR_CONFIG_INVALID naming the field. */
export function checkOptions(options: MemoryStoreOptions): CheckedOptions {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (!isPositiveInteger(maxBytes)) invalid(`maxBytes must be a positive integer, got ${show(maxBytes)}`)

  const maxObjectBytes = options.maxObjectBytes ?? Math.min(DEFAULT_MAX_OBJECT_BYTES, maxBytes)
  if (!isPositiveInteger(maxObjectBytes)) {
    invalid(`maxObjectBytes must be a positive integer, got ${show(maxObjectBytes)}`)
  }
  if (maxObjectBytes > maxBytes) {
    invalid(`maxObjectBytes must be <= maxBytes (${maxBytes}), got ${maxObjectBytes}`)
  }

  const clock = options.clock ?? systemClock
  if (typeof clock?.now !== 'function') invalid(`clock must have a now() method, got ${show(clock)}`)

  const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 0) {
    invalid(`sweepIntervalMs must be a non-negative integer, got ${show(sweepIntervalMs)}`)
  }

  const { onEvict } = options
  if (onEvict !== undefined && typeof onEvict !== 'function') {
    invalid(`onEvict must be a function, got ${show(onEvict)}`)
  }

  const purgeLogWindowMs = options.purgeLogWindowMs ?? DEFAULT_PURGE_LOG_WINDOW_MS
  if (!isPositiveInteger(purgeLogWindowMs)) {
    invalid(`purgeLogWindowMs must be a positive integer, got ${show(purgeLogWindowMs)}`)
  }

  const purgeLogMaxRecords = options.purgeLogMaxRecords ?? DEFAULT_PURGE_LOG_MAX_RECORDS
  if (!isPositiveInteger(purgeLogMaxRecords)) {
    invalid(`purgeLogMaxRecords must be a positive integer, got ${show(purgeLogMaxRecords)}`)
  }

  return { maxBytes, maxObjectBytes, clock, sweepIntervalMs, onEvict, purgeLogWindowMs, purgeLogMaxRecords }
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function invalid(problem: string): never {
  throw new EdgecacheError('EC_ERR_CONFIG_INVALID', [`memory store: ${problem}`])
}

/** A value as an options message quotes it. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (value !== null && typeof value === 'object') return 'an object'
  return String(value)
}
