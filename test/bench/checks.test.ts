/** The speed goals as the benchmark reports them (bench/http/checks.ts). */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Check, checkTargets } from '../../bench/http/checks.ts'
import type { LoadResult } from '../../bench/http/load.ts'
import type { CaseResult } from '../../bench/http/report.ts'
import type { TargetId } from '../../bench/http/targets.ts'

interface Row {
  readonly rps: number
  readonly p99Ms?: number
  readonly timeouts?: number
  readonly cpu?: number
}

/** A result with the figures the checks read; the rest is filler. */
function result(caseId: string, target: TargetId, connections: number, row: Row): CaseResult {
  const median: LoadResult = {
    requests: row.rps * 4,
    durationS: 4,
    rps: row.rps,
    p50Ms: 1,
    p99Ms: row.p99Ms ?? 5,
    bytes: 0,
    errors: { socket: 0, connect: 0, timeout: row.timeouts ?? 0, badStatus: 0 },
  }
  return {
    id: `${caseId}/${target}/c${connections}`,
    case: { id: caseId } as CaseResult['case'],
    target,
    targetLabel: target,
    connections,
    rounds: [median],
    median,
    cpuUsPerRequest: [row.cpu],
    medianCpuUsPerRequest: row.cpu,
    otherCpuShare: [],
    discarded: [],
  }
}

function checksNamed(checks: readonly Check[], prefix: string): Check[] {
  return checks.filter((c) => c.name.startsWith(prefix))
}

test('the #17 lines: hits against nginx, the tail at 1,024 connections, a miss’s CPU', () => {
  const passing = checkTargets(
    [
      result('hit-1k', 'edgecache-all', 64, { rps: 48_000 }),
      result('hit-1k', 'nginx', 64, { rps: 47_000 }),
      result('hit-1k', 'edgecache-all', 1024, { rps: 37_000, p99Ms: 110 }),
      result('hit-1k', 'nginx', 1024, { rps: 48_000, p99Ms: 40 }),
      result('miss', 'edgecache-all', 64, { rps: 13_000, cpu: 69 }),
    ],
    new Map(),
  )
  const lines = checksNamed(passing, '#17')
  assert.equal(lines.length, 3, JSON.stringify(passing))
  assert.ok(
    lines.every((c) => c.pass),
    JSON.stringify(lines),
  )

  const failing = checkTargets(
    [
      result('hit-1k', 'edgecache-all', 64, { rps: 42_000 }),
      result('hit-1k', 'nginx', 64, { rps: 47_000 }),
      result('hit-1k', 'edgecache-all', 1024, { rps: 37_000, p99Ms: 61, timeouts: 3 }),
      result('hit-1k', 'nginx', 1024, { rps: 48_000, p99Ms: 40 }),
      result('miss', 'edgecache-all', 64, { rps: 13_000, cpu: 98 }),
    ],
    new Map(),
  )
  const failed = checksNamed(failing, '#17')
  assert.deepEqual(
    failed.map((c) => [c.pass, c.detail]),
    [
      [false, '0.89× (42000 vs 47000 req/s)'],
      [false, '1.52× (61.0 vs 40.0 ms), 3 errors'],
      [false, '98 µs'],
    ],
  )
})

test('a #17 line is left out when a run it compares was not selected', () => {
  const checks = checkTargets([result('hit-1k', 'edgecache-all', 64, { rps: 48_000 })], new Map())
  assert.deepEqual(checksNamed(checks, '#17'), [])
})
