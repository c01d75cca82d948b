/**
 * The targets of issues #7, #6 and #17 as pass/fail lines, each checked only when the runs
 * it compares were selected. Reports; never fails the command.
 */
import { type CaseResult, errorCount, finder, type MemoryRecord, mib } from './report.ts'
import type { TargetId } from './targets.ts'

export interface Check {
  readonly name: string
  readonly pass: boolean
  readonly detail: string
}

export const HIT_VS_BARE = 0.9
export const MISS_VS_ORIGIN = 0.9
export const STALE_VS_HIT = 0.9
export const TIERED_VS_LOCAL = 0.9
export const REDIS_VS_LOCAL = 0.5
/** #17, with the defaults on: hits against nginx, their p99 at 1,024 connections, a miss's CPU. */
export const HIT_VS_NGINX = 1.0
export const P99_VS_NGINX_MOST = 3
export const MISS_CPU_US_MOST = 70
/** Per process, anonymous memory (RssAnon): the local store's mapped data file is not counted. */
export const IDLE_ANON_RSS_BYTES = 60 * 1024 * 1024

export function formatChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`).join('\n')
}

export function checkTargets(
  results: readonly CaseResult[],
  memory: ReadonlyMap<TargetId, MemoryRecord>,
): Check[] {
  const find = finder(results)
  const checks: Check[] = []
  const compare = (
    name: string,
    a: CaseResult | undefined,
    b: CaseResult | undefined,
    min: number,
    noTimeouts = false,
  ) => {
    if (a === undefined || b === undefined) return
    const r = a.median.rps / b.median.rps
    const timeouts = a.median.errors.timeout
    checks.push({
      name,
      pass: r >= min && (!noTimeouts || timeouts === 0),
      detail:
        `${r.toFixed(2)}× (${Math.round(a.median.rps)} vs ${Math.round(b.median.rps)} req/s)` +
        (noTimeouts ? `, ${timeouts} timeouts` : ''),
    })
  }
  for (const conns of [64, 1024]) {
    compare(
      `#7 hit 1 KiB, all cores, ${conns} conns ≥ ${HIT_VS_BARE}× bare node all cores, no timeouts`,
      find('hit-1k', 'edgecache-all', conns),
      find('hit-1k', 'bare-all', conns),
      HIT_VS_BARE,
      true,
    )
  }
  compare(
    `#7 miss with a 10 ms backend, all cores, 64 conns ≥ ${MISS_VS_ORIGIN}× origin direct`,
    find('miss-10ms', 'edgecache-all', 64),
    find('miss-10ms', 'origin', 64),
    MISS_VS_ORIGIN,
  )
  compare(
    `#7 stale serve, all cores, 64 conns within ${Math.round((1 - STALE_VS_HIT) * 100)}% of a 1 KiB hit`,
    find('stale', 'edgecache-all', 64),
    find('hit-1k', 'edgecache-all', 64),
    STALE_VS_HIT,
  )
  compare(
    `#17 hit 1 KiB, all cores, 64 conns ≥ ${HIT_VS_NGINX}× nginx`,
    find('hit-1k', 'edgecache-all', 64),
    find('hit-1k', 'nginx', 64),
    HIT_VS_NGINX,
  )
  const tail = find('hit-1k', 'edgecache-all', 1024)
  const nginxTail = find('hit-1k', 'nginx', 1024)
  if (tail !== undefined && nginxTail !== undefined) {
    const r = tail.median.p99Ms / nginxTail.median.p99Ms
    const errors = errorCount(tail.median)
    checks.push({
      name: `#17 hit 1 KiB, all cores, 1024 conns: p99 within ${P99_VS_NGINX_MOST}× nginx's, no errors`,
      pass: r <= P99_VS_NGINX_MOST && errors === 0,
      detail: `${r.toFixed(2)}× (${tail.median.p99Ms.toFixed(1)} vs ${nginxTail.median.p99Ms.toFixed(1)} ms), ${errors} errors`,
    })
  }
  const misses = find('miss', 'edgecache-all', 64)
  if (misses?.medianCpuUsPerRequest !== undefined) {
    checks.push({
      name: `#17 miss (no-store), all cores, 64 conns: CPU ≤ ${MISS_CPU_US_MOST} µs per request`,
      pass: misses.medianCpuUsPerRequest <= MISS_CPU_US_MOST,
      detail: `${Math.round(misses.medianCpuUsPerRequest)} µs`,
    })
  }
  for (const id of ['edgecache-1', 'edgecache-all', 'edgecache-memory'] as const) {
    const record = memory.get(id)
    if (record === undefined || record.afterStart.length === 0) continue
    // Idle both after start and once the load has passed (memory given back after a burst).
    const most = Math.max(...record.afterStart)
    const atEnd = Math.max(...record.idleAtEnd)
    checks.push({
      name: `#7 ${record.label}: idle anon RSS ≤ ${mib(IDLE_ANON_RSS_BYTES)} per process`,
      pass: Math.max(most, atEnd) <= IDLE_ANON_RSS_BYTES,
      detail: `largest ${mib(most)} after start, ${mib(atEnd)} idle after the load`,
    })
  }
  compare(
    `#6 tiered store, L1 hits, 64 conns within ${Math.round((1 - TIERED_VS_LOCAL) * 100)}% of local`,
    find('hit-1k', 'edgecache-tiered', 64),
    find('hit-1k', 'edgecache-1', 64),
    TIERED_VS_LOCAL,
  )
  compare(
    `#6 redis store, every hit from Redis, 64 conns ≥ ${REDIS_VS_LOCAL}× local`,
    find('hit-1k', 'edgecache-redis', 64),
    find('hit-1k', 'edgecache-1', 64),
    REDIS_VS_LOCAL,
  )
  return checks
}
