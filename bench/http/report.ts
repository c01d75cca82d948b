/**
 * Shapes the HTTP benchmark's results: the machine it ran on, the median of the rounds,
 * the markdown table, the pass/fail lines and the notes under them. No I/O beyond
 * reading /proc/cpuinfo.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, release } from 'node:os'
import type { LoadResult } from './load.ts'

/** The issue's first targets; DESIGN.md's "Figures to beat" ask for 0.9× and 0.05 ms later. */
export const HIT_RPS_TARGET = 0.7
export const HIT_LATENCY_TARGET_MS = 0.1
/** Above this share of the machine used by other processes during a run, its figures are suspect. */
export const NOISY_SHARE = 0.1

export const pct = (share: number): string => `${Math.round(share * 100)}%`

export interface Machine {
  /** What `nproc` prints: CPUs this process may use. */
  readonly nproc: number
  readonly cpuModel: string
  readonly node: string
  readonly kernel: string
}

export function describeMachine(): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown'
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (match?.[1] !== undefined) cpuModel = match[1].trim()
  } catch {
    // Not Linux: os.cpus() has the model too.
  }
  return { nproc: availableParallelism(), cpuModel, node: process.version, kernel: release() }
}

/** Which server a case loads. */
export type Target = 'bare' | 'edgecache' | 'origin'

/** One measured case: every round's figures and their medians. */
export interface CaseResult {
  readonly id: string
  /** What is asked for: "hit 1 KiB", "miss (no-store)", … */
  readonly label: string
  readonly target: Target
  readonly path: string
  readonly connections: number
  readonly rounds: readonly LoadResult[]
  readonly median: LoadResult
  /**
   * CPU time the target's process used per answered request, µs, each round and median;
   * undefined where /proc is missing. For edgecache, the proxy's process only.
   */
  readonly cpuUsPerRequest: readonly (number | undefined)[]
  readonly medianCpuUsPerRequest: number | undefined
  /** Share of the machine's CPU that processes outside the benchmark used, each round. */
  readonly otherCpuShare: readonly (number | undefined)[]
  /** Requests the origin served during each measured round (edgecache cases only). */
  readonly originRequests?: readonly number[]
  /** Runs measured again because other processes used the CPU during them; not in `rounds`. */
  readonly discarded: readonly {
    readonly result: LoadResult
    readonly otherCpuShare: number | undefined
  }[]
}

const targetNames: Readonly<Record<Target, string>> = {
  bare: 'bare node:http',
  edgecache: 'edgecache',
  origin: 'origin direct',
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The median of each figure across rounds; errors are summed, not averaged. */
export function medianOf(rounds: readonly LoadResult[]): LoadResult {
  const of = (pick: (r: LoadResult) => number) => median(rounds.map(pick))
  const sum = (pick: (r: LoadResult) => number) => rounds.reduce((n, r) => n + pick(r), 0)
  return {
    requests: of((r) => r.requests),
    durationS: of((r) => r.durationS),
    rps: of((r) => r.rps),
    p50Ms: of((r) => r.p50Ms),
    p99Ms: of((r) => r.p99Ms),
    bytes: of((r) => r.bytes),
    errors: {
      socket: sum((r) => r.errors.socket),
      timeout: sum((r) => r.errors.timeout),
      badStatus: sum((r) => r.errors.badStatus),
    },
  }
}

const errorCount = (r: LoadResult): number => r.errors.socket + r.errors.timeout + r.errors.badStatus

function formatErrors(r: LoadResult): string {
  const { socket, timeout, badStatus } = r.errors
  const parts = [
    socket > 0 ? `${socket} socket` : '',
    timeout > 0 ? `${timeout} timeout` : '',
    badStatus > 0 ? `${badStatus} bad status` : '',
  ].filter((p) => p !== '')
  return parts.length === 0 ? '0' : parts.join(', ')
}

const rps = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : 'n/a')
const ratio = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '—' : `${n.toFixed(2)}×`)

/**
 * The results as a markdown table. `× bare` divides by the bare server's req/s at the same
 * connection count; `× origin` divides an edgecache row by the origin direct on the same path;
 * `CPU µs/req` is the target process's own CPU time per request.
 */
export function formatTable(results: readonly CaseResult[]): string {
  const find = (target: Target, path: string | undefined, connections: number) =>
    results.find(
      (r) => r.target === target && (path === undefined || r.path === path) && r.connections === connections,
    )
  const rows = results.map((r) => {
    const bare = find('bare', undefined, r.connections)
    const origin = r.target === 'edgecache' ? find('origin', r.path, r.connections) : undefined
    return [
      r.label,
      targetNames[r.target],
      String(r.connections),
      rps(r.median.rps),
      ms(r.median.p50Ms),
      ms(r.median.p99Ms),
      r.target === 'bare' ? '1.00×' : ratio(bare && r.median.rps / bare.median.rps),
      ratio(origin && r.median.rps / origin.median.rps),
      r.medianCpuUsPerRequest === undefined ? 'n/a' : r.medianCpuUsPerRequest.toFixed(1),
      formatErrors(r.median),
    ]
  })
  const header = [
    'case',
    'target',
    'conns',
    'req/s',
    'p50 ms',
    'p99 ms',
    '× bare',
    '× origin',
    'CPU µs/req',
    'errors',
  ]
  const align = ['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

export interface Check {
  readonly name: string
  readonly pass: boolean
  readonly detail: string
}

export function formatChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`).join('\n')
}

export const mib = (bytes: number | undefined): string =>
  bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** The issue's first targets, as pass/fail. */
export function firstTargets(results: readonly CaseResult[], connections: number): Check[] {
  const find = (id: string) => results.find((r) => r.id === id)?.median
  const checks: Check[] = []
  const bare = find(`bare/c${connections}`)
  const hit = find(`hit-1k/edgecache/c${connections}`)
  if (bare !== undefined && hit !== undefined) {
    const ratio = hit.rps / bare.rps
    checks.push({
      name: `hit 1 KiB at ${connections} connections ≥ ${HIT_RPS_TARGET}× bare req/s`,
      pass: ratio >= HIT_RPS_TARGET,
      detail: `${ratio.toFixed(2)}× (${Math.round(hit.rps)} vs ${Math.round(bare.rps)} req/s)`,
    })
  }
  const bare1 = find('bare/c1')
  const hit1 = find('hit-1k/edgecache/c1')
  if (bare1 !== undefined && hit1 !== undefined) {
    const extra = hit1.p50Ms - bare1.p50Ms
    checks.push({
      name: `hit 1 KiB at 1 connection, median within ${HIT_LATENCY_TARGET_MS} ms of bare`,
      pass: extra <= HIT_LATENCY_TARGET_MS,
      detail: `${extra >= 0 ? '+' : ''}${extra.toFixed(3)} ms (${hit1.p50Ms.toFixed(3)} vs ${bare1.p50Ms.toFixed(3)} ms)`,
    })
  }
  return checks
}

/** What edgecache did besides answering fast: the lines under the table. */
export interface ProxyObservations {
  /** Cache-Status of one request per path, taken before measuring. */
  readonly cacheStatus: Readonly<Record<string, string>>
  /** Resident memory at points of the run, bytes. */
  readonly rss: Readonly<Record<string, number | undefined>>
  readonly stderr: readonly string[]
  readonly answeredAfterLoad: boolean
  readonly logLevel: string
}

/** The notes under the table: what each case really exercised, memory, errors, noise. */
export function formatNotes(results: readonly CaseResult[], seen: ProxyObservations): string {
  const { cacheStatus, rss, stderr, answeredAfterLoad: stillReady, logLevel } = seen
  const lines = ['Cache-Status of one request per path, before measuring:']
  for (const [path, status] of Object.entries(cacheStatus)) lines.push(`- ${path}: ${status}`)
  lines.push('', 'Origin requests while edgecache was measured (hits: 0; stale: background refreshes):')
  for (const r of results) {
    if (r.target !== 'edgecache') continue
    const served = r.rounds.reduce((n, x) => n + x.requests, 0)
    const upstream = (r.originRequests ?? []).reduce((n, x) => n + x, 0)
    lines.push(`- ${r.label}, ${r.connections} conn: ${upstream} for ${served} answered`)
  }
  lines.push(
    '',
    `edgecache resident memory: ${Object.entries(rss)
      .map(([when, bytes]) => `${when} ${mib(bytes)}`)
      .join('; ')}`,
  )
  lines.push(`edgecache answered after the load: ${stillReady ? 'yes' : 'NO'}`)
  const others = results.flatMap((r) =>
    r.otherCpuShare.flatMap((share) => (share === undefined ? [] : [{ id: r.id, share }])),
  )
  if (others.length > 0) {
    const worst = others.reduce((a, b) => (b.share > a.share ? b : a))
    const noisy = others.filter((o) => o.share > NOISY_SHARE)
    lines.push(
      `CPU used by processes outside the benchmark during measured runs: median ` +
        `${pct(median(others.map((o) => o.share)))}, most ${pct(worst.share)} (${worst.id})` +
        (noisy.length === 0
          ? ''
          : `; over ${pct(NOISY_SHARE)} in ${noisy.length} run(s), treat those rows as noisy: ` +
            `${[...new Set(noisy.map((o) => o.id))].join(', ')}`),
    )
  }
  const rerun = results.filter((r) => r.discarded.length > 0)
  if (rerun.length > 0) {
    const errors = rerun.flatMap((r) => r.discarded).reduce((n, d) => n + errorCount(d.result), 0)
    lines.push(
      `Measured again after disturbance: ${rerun.map((r) => `${r.id} ×${r.discarded.length}`).join(', ')}` +
        ` (errors in the discarded runs: ${errors})`,
    )
  }
  lines.push(
    stderr.length === 0
      ? `edgecache stderr (log level ${logLevel}): empty`
      : `edgecache stderr (log level ${logLevel}), ${stderr.length} line(s), last: ${stderr.at(-1)}`,
  )
  return lines.join('\n')
}
