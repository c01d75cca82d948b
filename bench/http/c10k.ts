/**
 * `npm run bench -- --c10k`: 10,000 keep-alive connections on the 1 KiB hit, each target in
 * turn. Counts the connections each server really holds (established sockets on its port,
 * sampled every second), wrk's connect, read and write errors and timeouts, and the latency
 * percentiles of the requests that were answered.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Check } from './checks.ts'
import { type LoadResult, type LoadTool, runLoad } from './load.ts'
import { cpuOfEach, cpuUsed } from './measure.ts'
import { anonRssOfEach, establishedOn, get } from './processes.ts'
import { markdownTable, mib, ms, rps } from './report.ts'
import { pidsOf, type RunningTarget } from './targets.ts'

const PATH = '/hit/1k'
const SAMPLE_MS = 1_000
/** Time for the last run's sockets to close before the next target is loaded. */
const SETTLE_MS = 2_000

export interface C10kResult {
  readonly target: string
  readonly label: string
  readonly connections: number
  readonly result: LoadResult
  /** Most established connections seen on the target's port during the run; undefined without /proc. */
  readonly establishedPeak: number | undefined
  readonly cpuUsPerRequest: number | undefined
  /** Largest total anonymous resident memory (RssAnon) of the target's processes seen during the run, bytes. */
  readonly anonRssPeakBytes: number
}

export interface C10kContext {
  readonly tool: LoadTool
  readonly root: string
  readonly connections: number
  readonly durationS: number
  readonly threads: number
  readonly openFiles: number
}

export async function runC10k(targets: readonly RunningTarget[], ctx: C10kContext): Promise<C10kResult[]> {
  const results: C10kResult[] = []
  for (const target of targets) {
    // One request stores the path; other workers of a multi-process target store it on their first.
    await get(`${target.url}${PATH}`)
    const port = Number(new URL(target.url).port)
    const pids = pidsOf(target)
    const cpuBefore = cpuOfEach(pids)
    let establishedPeak: number | undefined
    let anonRssPeakBytes = 0
    let done = false
    const load = runLoad(
      ctx.tool,
      {
        url: `${target.url}${PATH}`,
        connections: ctx.connections,
        durationS: ctx.durationS,
        threads: ctx.threads,
        openFiles: ctx.openFiles,
      },
      ctx.root,
    ).finally(() => {
      done = true
    })
    while (!done) {
      await Promise.race([sleep(SAMPLE_MS), load.catch(() => undefined)])
      if (done) break
      const established = establishedOn(port)
      if (established !== undefined) establishedPeak = Math.max(establishedPeak ?? 0, established)
      anonRssPeakBytes = Math.max(
        anonRssPeakBytes,
        anonRssOfEach(pids).reduce((a, b) => a + b, 0),
      )
    }
    const result = await load
    const cpu = cpuUsed(cpuBefore, cpuOfEach(pids))
    process.stderr.write(
      `c10k/${target.id}: ${Math.round(result.rps)} req/s, ${establishedPeak ?? '?'} established, ` +
        `${result.errors.connect} connect errors, ${result.errors.timeout} timeouts\n`,
    )
    results.push({
      target: target.id,
      label: target.label,
      connections: ctx.connections,
      result,
      establishedPeak,
      cpuUsPerRequest: cpu === undefined || result.requests === 0 ? undefined : cpu / 1000 / result.requests,
      anonRssPeakBytes,
    })
    await sleep(SETTLE_MS)
  }
  return results
}

export function formatC10kTable(results: readonly C10kResult[]): string {
  return markdownTable(
    [
      'target',
      'conns',
      'established (peak)',
      'connect errors',
      'read/write errors',
      'timeouts',
      'bad status',
      'req/s',
      'p50 ms',
      'p99 ms',
      'CPU µs/req',
      'anon RSS peak',
    ],
    ['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:'],
    results.map((r) => [
      r.label,
      rps(r.connections),
      r.establishedPeak === undefined ? 'n/a' : rps(r.establishedPeak),
      String(r.result.errors.connect),
      String(r.result.errors.socket - r.result.errors.connect),
      String(r.result.errors.timeout),
      String(r.result.errors.badStatus),
      rps(r.result.rps),
      ms(r.result.p50Ms),
      ms(r.result.p99Ms),
      r.cpuUsPerRequest === undefined ? 'n/a' : r.cpuUsPerRequest.toFixed(0),
      mib(r.anonRssPeakBytes),
    ]),
  )
}

/** #7: every connection established, no errors and no timeouts. */
export function checkC10k(results: readonly C10kResult[]): Check[] {
  return results
    .filter((r) => r.target.startsWith('edgecache'))
    .map((r) => {
      const { socket, timeout, badStatus } = r.result.errors
      return {
        name: `#7 c10k, ${r.label}: all ${rps(r.connections)} connections established, no errors or timeouts`,
        pass: (r.establishedPeak ?? 0) >= r.connections && socket + timeout + badStatus === 0,
        detail: `${r.establishedPeak ?? 'n/a'} established, ${socket} socket errors, ${timeout} timeouts, ${badStatus} bad status`,
      }
    })
}
