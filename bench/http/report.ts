/**
 * Shapes the HTTP benchmark's results: the machine it ran on, the medians of the rounds,
 * the markdown tables (every run, CPU per request by case, the stores, memory) and the notes
 * under them. No I/O beyond reading /proc/cpuinfo.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import type { CaseDef } from './cases.ts'
import type { LoadResult } from './load.ts'
import type { TargetId } from './targets.ts'

/** Above this share of the machine used by other processes during a run, its figures are suspect. */
export const NOISY_SHARE = 0.1

export const pct = (share: number): string => `${Math.round(share * 100)}%`

export interface Machine {
  /** What `nproc` prints: CPUs this process may use. */
  readonly nproc: number
  readonly cpuModel: string
  readonly memoryGiB: number
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
  return {
    nproc: availableParallelism(),
    cpuModel,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
  }
}

/** One run spec (case × target × connections) measured over every round. */
export interface CaseResult {
  /** `hit-1k/edgecache-all/c64` */
  readonly id: string
  readonly case: CaseDef
  readonly target: TargetId
  readonly targetLabel: string
  readonly connections: number
  readonly rounds: readonly LoadResult[]
  readonly median: LoadResult
  /** CPU µs per request of the target's processes, each round; undefined where /proc is missing. */
  readonly cpuUsPerRequest: readonly (number | undefined)[]
  readonly medianCpuUsPerRequest: number | undefined
  /** Share of the machine's CPU that processes outside the benchmark used, each round. */
  readonly otherCpuShare: readonly (number | undefined)[]
  /** Requests the origin served during each round (proxies only). */
  readonly originRequests?: readonly number[]
  /** Runs measured again because other processes used the CPU during them; not in `rounds`. */
  readonly discarded: readonly { readonly result: LoadResult; readonly otherCpuShare: number | undefined }[]
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
      connect: sum((r) => r.errors.connect),
      timeout: sum((r) => r.errors.timeout),
      badStatus: sum((r) => r.errors.badStatus),
    },
  }
}

export const errorCount = (r: LoadResult): number => r.errors.socket + r.errors.timeout + r.errors.badStatus

export function formatErrors(r: LoadResult): string {
  const { socket, timeout, badStatus } = r.errors
  const parts = [
    socket > 0 ? `${socket} socket` : '',
    timeout > 0 ? `${timeout} timeout` : '',
    badStatus > 0 ? `${badStatus} bad status` : '',
  ].filter((p) => p !== '')
  return parts.length === 0 ? '0' : parts.join(', ')
}

export const rps = (n: number): string => Math.round(n).toLocaleString('en-US')
export const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a')
export const ratio = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n) ? '—' : `${n.toFixed(2)}×`
export const mib = (bytes: number | undefined): string =>
  bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`
/** As `mib`, in KiB below 1 MiB: a data file holding a few responses. */
export const fileSize = (bytes: number): string =>
  bytes < 1024 * 1024 ? `${Math.round(bytes / 1024)} KiB` : mib(bytes)

export function markdownTable(header: readonly string[], align: readonly string[], rows: string[][]): string {
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** Finds the result of `target` on `caseId` at `connections`. */
export function finder(results: readonly CaseResult[]) {
  return (caseId: string, target: TargetId, connections: number): CaseResult | undefined =>
    results.find((r) => r.case.id === caseId && r.target === target && r.connections === connections)
}

/**
 * The row a result is compared with in `× baseline`: for a hit, the bare server with as
 * many processes (1, or every core: edgecache on all cores, nginx and Varnish); for a miss
 * or a fill, the origin direct; for a stale serve, the same target's 1 KiB hit.
 */
export function baselineOf(r: CaseResult, results: readonly CaseResult[]): CaseResult | undefined {
  const find = finder(results)
  const oneProcess: readonly TargetId[] = ['edgecache-1', 'edgecache-tiered', 'edgecache-redis', 'bare-1']
  switch (r.case.kind) {
    case 'hit':
      return find(r.case.id, oneProcess.includes(r.target) ? 'bare-1' : 'bare-all', r.connections)
    case 'miss':
    case 'fill':
      return find(r.case.id, 'origin', r.connections)
    case 'stale':
      return find('hit-1k', r.target, r.connections)
  }
}

/** Every run: medians of the rounds, req/s spread, ratios, CPU per request, errors. */
export function formatTable(results: readonly CaseResult[]): string {
  const find = finder(results)
  const rows = results.map((r) => {
    const rate = (other: CaseResult | undefined) => ratio(other && r.median.rps / other.median.rps)
    const spread = r.rounds.map((x) => x.rps)
    return [
      r.case.label,
      String(r.connections),
      r.targetLabel,
      rps(r.median.rps),
      `${rps(Math.min(...spread))}–${rps(Math.max(...spread))}`,
      ms(r.median.p50Ms),
      ms(r.median.p99Ms),
      rate(baselineOf(r, results)),
      rate(find(r.case.id, 'nginx', r.connections)),
      rate(find(r.case.id, 'varnish', r.connections)),
      r.medianCpuUsPerRequest === undefined ? 'n/a' : r.medianCpuUsPerRequest.toFixed(0),
      formatErrors(r.median),
    ]
  })
  return markdownTable(
    [
      'case',
      'conns',
      'target',
      'req/s',
      'min–max',
      'p50 ms',
      'p99 ms',
      '× baseline',
      '× nginx',
      '× Varnish',
      'CPU µs/req',
      'errors',
    ],
    ['---', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---'],
    rows,
  )
}

/**
 * CPU µs per request of each target, one column per kind of case, at the lowest connection
 * count each ran: what a hit costs, what a forwarded miss costs (`no-store`: nothing
 * stored), and what a fill costs (a miss whose answer is stored, each request a new path).
 */
export function formatCpuTable(results: readonly CaseResult[]): string {
  const columns = (
    [
      ['hit-1k', 'CPU per hit, 1 KiB'],
      ['miss', 'CPU per miss (no-store: forwarded, not stored)'],
      ['fill', 'CPU per fill, 1 KiB'],
      ['stale', 'CPU per stale serve'],
    ] as const
  ).filter(([caseId]) => results.some((r) => r.case.id === caseId))
  const targets = [...new Map(results.map((r) => [r.target, r.targetLabel]))]
  const cpuOf = (caseId: string, target: TargetId) => {
    const runs = results.filter((r) => r.case.id === caseId && r.target === target)
    const fewest = runs.find((r) => r.connections === Math.min(...runs.map((x) => x.connections)))
    return fewest?.medianCpuUsPerRequest === undefined ? '—' : fewest.medianCpuUsPerRequest.toFixed(0)
  }
  return markdownTable(
    ['target', ...columns.map(([, name]) => name)],
    ['---', ...columns.map(() => '---:')],
    targets.map(([id, label]) => [label, ...columns.map(([caseId]) => cpuOf(caseId, id))]),
  )
}

/** Issue #6: the 1 KiB hit through each store, one worker, against the local store. */
export function formatStoreTable(results: readonly CaseResult[]): string | undefined {
  const find = finder(results)
  const stores: readonly [TargetId, string][] = [
    ['edgecache-1', 'local'],
    ['edgecache-tiered', 'tiered (L1 hit)'],
    ['edgecache-redis', 'redis (every hit from Redis)'],
  ]
  const connections = [...new Set(results.filter((r) => r.case.id === 'hit-1k').map((r) => r.connections))]
  const rows = connections.flatMap((conns) => {
    const local = find('hit-1k', 'edgecache-1', conns)
    return stores.flatMap(([id, name]) => {
      const r = find('hit-1k', id, conns)
      if (r === undefined) return []
      return [
        [
          name,
          String(conns),
          rps(r.median.rps),
          ratio(local && r.median.rps / local.median.rps),
          ms(r.median.p50Ms),
          ms(r.median.p99Ms),
          r.medianCpuUsPerRequest === undefined ? 'n/a' : r.medianCpuUsPerRequest.toFixed(0),
          formatErrors(r.median),
        ],
      ]
    })
  })
  if (!rows.some((row) => row[0] !== 'local')) return undefined
  return markdownTable(
    ['store', 'conns', 'req/s', '× local', 'p50 ms', 'p99 ms', 'CPU µs/req', 'errors'],
    ['---', '---:', '---:', '---:', '---:', '---:', '---:', '---'],
    rows,
  )
}

/**
 * Resident memory of one target's processes over the run, bytes per process: anonymous
 * (RssAnon), which leaves out mapped files such as the local store's data file, and once
 * all of it (VmRSS); and the size of that data file.
 */
export interface MemoryRecord {
  readonly label: string
  /** Anonymous, idle, after start and the warming requests, before any load. */
  readonly afterStart: readonly number[]
  /** Anonymous, right after each of its measured runs. */
  readonly afterRuns: readonly (readonly number[])[]
  /** Anonymous, idle again, a second after the last run. */
  readonly idleAtEnd: readonly number[]
  /** All of it (VmRSS, mapped files included), at the same moment as `idleAtEnd`. */
  readonly rssAtEnd: readonly number[]
  /** `<cache dir>/store/data.mdb` at the end; undefined for a target without a cache directory. */
  readonly storeFileBytes: number | undefined
}

const total = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0)
const largest = (xs: readonly number[]) => (xs.length === 0 ? undefined : Math.max(...xs))

export function formatMemoryTable(memory: ReadonlyMap<TargetId, MemoryRecord>): string {
  const both = (xs: readonly number[]) => `${mib(total(xs))} / ${mib(largest(xs))}`
  const rows = [...memory.values()].map((m) => [
    m.label,
    String(m.afterStart.length),
    both(m.afterStart),
    mib(largest(m.afterRuns.flat())),
    both(m.idleAtEnd),
    mib(total(m.rssAtEnd)),
    m.storeFileBytes === undefined ? '—' : fileSize(m.storeFileBytes),
  ])
  return markdownTable(
    [
      'target',
      'processes',
      'anon RSS idle after start: total / largest',
      'anon RSS, largest after a run',
      'anon RSS idle at end: total / largest',
      'RSS with mapped files, at end: total',
      'store file at end',
    ],
    ['---', '---:', '---:', '---:', '---:', '---:', '---:'],
    rows,
  )
}

/** What the proxies did besides answering fast: the lines under the tables. */
export interface Observations {
  /** Target → path → status and cache header of one request, taken before measuring. */
  readonly cacheStatus: Readonly<Record<string, Readonly<Record<string, string>>>>
  /** Target → its stderr lines (edgecache at warn: anything there matters). */
  readonly stderr: Readonly<Record<string, readonly string[]>>
  /** Target → whether it still answered after the load. */
  readonly answeredAfterLoad: Readonly<Record<string, boolean>>
  readonly skipped: readonly { readonly id: TargetId; readonly reason: string }[]
}

/** The notes under the tables: what each case really exercised, errors, noise, what was skipped. */
export function formatNotes(results: readonly CaseResult[], seen: Observations): string {
  const lines: string[] = []
  for (const { id, reason } of seen.skipped) lines.push(`Skipped ${id}: ${reason}.`)
  lines.push('Cache outcome of one request per path, before measuring:')
  for (const [target, paths] of Object.entries(seen.cacheStatus)) {
    lines.push(
      `- ${target}: ${Object.entries(paths)
        .map(([path, status]) => `${path} ${status}`)
        .join('; ')}`,
    )
  }
  lines.push(
    '',
    'Origin requests while each proxy was measured (hits: 0; misses and fills: one per answer; ' +
      'stale: background refreshes):',
  )
  for (const r of results) {
    if (r.originRequests === undefined) continue
    const served = r.rounds.reduce((n, x) => n + x.requests, 0)
    lines.push(`- ${r.id}: ${total(r.originRequests)} for ${served} answered`)
  }
  const silent = Object.entries(seen.answeredAfterLoad).filter(([, ok]) => !ok)
  lines.push(
    '',
    silent.length === 0
      ? 'Every target answered after the load.'
      : `Not answering after the load: ${silent.map(([id]) => id).join(', ')}`,
  )
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
  for (const [id, stderr] of Object.entries(seen.stderr)) {
    if (stderr.length > 0) lines.push(`${id} stderr: ${stderr.length} line(s), last: ${stderr.at(-1)}`)
  }
  return lines.join('\n')
}
