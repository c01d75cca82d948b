/**
 * The status tracker's counters for one row (all requests, or one route) in one second:
 * requests, cache lookups and hits, error answers, bytes and a latency histogram. Mutable,
 * in typed arrays, for the hot path; `rawCounts` turns them into the plain JSON a report
 * carries over IPC.
 */
import { binCount } from './latency-histogram.ts'
import type { StatusCounts } from './status-snapshot.ts'

export interface Counts {
  requests: number
  /** Requests that went through the cache (a cache outcome was recorded). */
  lookups: number
  hits: number
  errors5xx: number
  errors4xx: number
  bytes: number
  readonly latency: Uint32Array
}

export function newCounts(): Counts {
  return {
    requests: 0,
    lookups: 0,
    hits: 0,
    errors5xx: 0,
    errors4xx: 0,
    bytes: 0,
    latency: new Uint32Array(binCount),
  }
}

export function resetCounts(counts: Counts): void {
  counts.requests = counts.lookups = counts.hits = 0
  counts.errors5xx = counts.errors4xx = counts.bytes = 0
  counts.latency.fill(0)
}

/** What one finished request adds to a row. */
export interface Seen {
  readonly lookup: boolean
  readonly hit: boolean
  readonly bin: number
  readonly status: number
  readonly bytes: number
}

export function count(counts: Counts, seen: Seen): void {
  counts.requests++
  if (seen.lookup) counts.lookups++
  if (seen.hit) counts.hits++
  if (seen.status >= 500) counts.errors5xx++
  else if (seen.status >= 400) counts.errors4xx++
  counts.bytes += seen.bytes
  counts.latency[seen.bin] = (counts.latency[seen.bin] ?? 0) + 1
}

export function addCounts(into: Counts, from: Counts): void {
  into.requests += from.requests
  into.lookups += from.lookups
  into.hits += from.hits
  into.errors5xx += from.errors5xx
  into.errors4xx += from.errors4xx
  into.bytes += from.bytes
  for (let i = 0; i < binCount; i++) into.latency[i] = (into.latency[i] ?? 0) + (from.latency[i] ?? 0)
}

/** Plain arrays, so the counts survive JSON on their way through IPC. */
export function rawCounts(counts: Counts): StatusCounts {
  return {
    requests: counts.requests,
    lookups: counts.lookups,
    hits: counts.hits,
    errors5xx: counts.errors5xx,
    errors4xx: counts.errors4xx,
    bytes: counts.bytes,
    latency: [...counts.latency],
  }
}
