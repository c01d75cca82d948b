/**
 * The local store's options: their types, defaults and checks, apart from the store so
 * that it reads as what it does.
 */
import type { Clock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'
import { type EvictReason, show } from './memory-store-options.ts'

export interface LocalStoreOptions {
  /** The cache directory; the store's files go in its `store/` folder. */
  readonly path: string
  /**
   * Bytes of live entries held at most, as the store counts them (records rounded to LMDB
   * pages, plus index overhead).
   * @default 1_073_741_824 (1 GiB)
   */
  readonly maxBytes?: number
  /** Largest entry stored, counted as for maxBytes. @default the smaller of 8 MiB and maxBytes */
  readonly maxObjectBytes?: number
  /**
   * The most the data file grows to (LMDB's map size). Live entries stay within maxBytes;
   * the rest is room for B-tree pages and pages freed while readers still see them.
   * @default twice maxBytes plus 64 MiB
   */
  readonly mapBytes?: number
  /** Decoded entries kept in this process, bytes. @default 32 MiB */
  readonly copyBytes?: number
  /** Where the store reads the time. @default systemClock */
  readonly clock?: Clock
  /** Told of each entry SIEVE evicts or finds expired, by whichever process evicts it. */
  readonly onEvict?: (key: string, reason: EvictReason) => void
  /** How long a purge is remembered for the purge race. @default 300_000 */
  readonly purgeLogWindowMs?: number
  /** Most purges remembered at once. @default 10_000 */
  readonly purgeLogMaxRecords?: number
}

export interface CheckedLocalOptions {
  readonly path: string
  readonly maxBytes: number
  readonly maxObjectBytes: number
  readonly mapBytes: number
  readonly copyBytes: number
  readonly clock: Clock | undefined
  readonly onEvict: LocalStoreOptions['onEvict']
  readonly purgeLogWindowMs: number
  readonly purgeLogMaxRecords: number
}

const MiB = 1024 * 1024

/** Fills in defaults and checks each field; throws EC_ERR_CONFIG_INVALID naming the field. */
export function checkLocalOptions(options: LocalStoreOptions): CheckedLocalOptions {
  const { path, clock, onEvict } = options
  if (typeof path !== 'string' || path.length === 0) invalid(`path must be a directory, got ${show(path)}`)
  const maxBytes = positive('maxBytes', options.maxBytes ?? 1024 * MiB)
  const maxObjectBytes = positive('maxObjectBytes', options.maxObjectBytes ?? Math.min(8 * MiB, maxBytes))
  if (maxObjectBytes > maxBytes)
    invalid(`maxObjectBytes must be <= maxBytes (${maxBytes}), got ${maxObjectBytes}`)
  const mapBytes = positive('mapBytes', options.mapBytes ?? 2 * maxBytes + 64 * MiB)
  const copyBytes = positive('copyBytes', options.copyBytes ?? 32 * MiB)
  if (clock !== undefined && typeof clock.now !== 'function')
    invalid(`clock must have a now() method, got ${show(clock)}`)
  if (onEvict !== undefined && typeof onEvict !== 'function')
    invalid(`onEvict must be a function, got ${show(onEvict)}`)
  return {
    path,
    maxBytes,
    maxObjectBytes,
    mapBytes,
    copyBytes,
    clock,
    onEvict,
    purgeLogWindowMs: positive('purgeLogWindowMs', options.purgeLogWindowMs ?? 300_000),
    purgeLogMaxRecords: positive('purgeLogMaxRecords', options.purgeLogMaxRecords ?? 10_000),
  }
}

function positive(field: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    invalid(`${field} must be a positive integer, got ${show(value)}`)
  }
  return value as number
}

function invalid(problem: string): never {
  throw new EdgecacheError('EC_ERR_CONFIG_INVALID', [`local store: ${problem}`])
}
