/**
 * One measured run: a warm-up load, then the load itself, with what is counted around it:
 * the CPU the target's processes used per answered request, the share of the machine other
 * processes took meanwhile, the requests that reached the origin, and anonymous memory afterwards.
 */
import type { RunSpec } from './cases.ts'
import { cpuNs, watchOtherCpu } from './cpu.ts'
import { type LoadOptions, type LoadResult, type LoadTool, runLoad } from './load.ts'
import { anonRssOfEach, get } from './processes.ts'
import { pidsOf, type RunningTarget } from './targets.ts'

export interface Measured {
  readonly result: LoadResult
  /**
   * CPU time per answered request, µs, of every process of the target (workers included,
   * and redis-server for the Redis stores); undefined without /proc.
   */
  readonly cpuUsPerRequest: number | undefined
  /** Share of the machine's CPU that processes outside the benchmark used during the run. */
  readonly otherCpuShare: number | undefined
  /**
   * Requests the origin served for the case's path during the run (for a fill, every path
   * under it); proxies only.
   */
  readonly originRequests: number | undefined
  /** Anonymous resident memory (RssAnon) of each of the target's processes right after the run, bytes. */
  readonly anonRssBytes: readonly number[]
}

export interface MeasureContext {
  readonly tool: LoadTool
  readonly root: string
  readonly durationS: number
  readonly warmupS: number
  readonly threads: number
  readonly openFiles: number
  readonly originUrl: string
  /** Every process the benchmark runs now, so the rest of the machine can be told apart. */
  readonly benchPids: () => readonly number[]
}

async function originCounts(originUrl: string): Promise<Record<string, number>> {
  return JSON.parse((await get(`${originUrl}/__counts`)).body) as Record<string, number>
}

/** CPU ns of each of `pids` now (undefined for one that is gone). */
export const cpuOfEach = (pids: readonly number[]) => new Map(pids.map((pid) => [pid, cpuNs(pid)]))

/** CPU ns used between two readings by the processes present at both; undefined without /proc. */
export function cpuUsed(
  before: ReadonlyMap<number, number | undefined>,
  after: ReadonlyMap<number, number | undefined>,
): number | undefined {
  let used: number | undefined
  for (const [pid, end] of after) {
    const start = before.get(pid)
    if (start !== undefined && end !== undefined) used = (used ?? 0) + end - start
  }
  return used
}

export async function measure(spec: RunSpec, target: RunningTarget, ctx: MeasureContext): Promise<Measured> {
  const load: LoadOptions = {
    url: `${target.url}${spec.case.path}`,
    connections: spec.connections,
    durationS: ctx.durationS,
    threads: ctx.threads,
    openFiles: ctx.openFiles,
    ...(spec.case.headers === undefined ? {} : { headers: spec.case.headers }),
    // A fill: a new path each request, and new ones for each load (warm-up, round, retry).
    ...(spec.case.kind === 'fill' ? { uniquePaths: true } : {}),
  }
  if (ctx.warmupS > 0) await runLoad(ctx.tool, { ...load, durationS: ctx.warmupS }, ctx.root)
  const pids = pidsOf(target)
  const path = spec.case.path
  const before = target.proxies ? await originCounts(ctx.originUrl) : undefined
  const cpuBefore = cpuOfEach(pids)
  const otherCpu = watchOtherCpu(ctx.benchPids())
  const result = await runLoad(ctx.tool, load, ctx.root)
  const cpu = cpuUsed(cpuBefore, cpuOfEach(pids))
  const otherCpuShare = otherCpu()
  const after = before === undefined ? undefined : await originCounts(ctx.originUrl)
  if (target.main.hasExited()) {
    throw new Error(`${target.id} exited (${await target.main.exited}) during ${spec.id}`)
  }
  return {
    result,
    otherCpuShare,
    cpuUsPerRequest: cpu === undefined || result.requests === 0 ? undefined : cpu / 1000 / result.requests,
    originRequests:
      before === undefined || after === undefined ? undefined : (after[path] ?? 0) - (before[path] ?? 0),
    anonRssBytes: anonRssOfEach(pids),
  }
}
