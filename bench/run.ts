/**
 * `npm run bench`: edgecache against a bare node:http server, the origin direct, nginx
 * `proxy_cache` and Varnish, all on loopback in one run. Starts the origin and every selected
 * target as child processes on free ports, loads each case with wrk (autocannon when wrk is
 * absent) in interleaved rounds, prints markdown tables (medians with min–max, ratios, CPU per
 * request, anonymous memory and store file per target) and the issues' targets as pass/fail
 * lines, and writes everything to bench/results/<timestamp>.json. `--c10k` holds 10,000
 * connections instead. `--help` lists the flags. Speed is never asserted in `npm test`; this
 * only reports.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { checkC10k, formatC10kTable, runC10k } from './http/c10k.ts'
import { planRuns, type RunSpec } from './http/cases.ts'
import { checkTargets, formatChecks } from './http/checks.ts'
import { machineBusyShare } from './http/cpu.ts'
import { detectTool } from './http/load.ts'
import { type MeasureContext, type Measured, measure } from './http/measure.ts'
import {
  anonRssOfEach,
  get,
  openFileLimits,
  readPortLine,
  rssOfEach,
  spawnTracked,
  stopAll,
  stopChildrenOnExit,
} from './http/processes.ts'
import {
  type CaseResult,
  describeMachine,
  formatCpuTable,
  formatMemoryTable,
  formatNotes,
  formatStoreTable,
  formatTable,
  type MemoryRecord,
  median,
  medianOf,
  NOISY_SHARE,
  pct,
} from './http/report.ts'
import { C10K_CONNECTIONS, readSettings, type Settings } from './http/settings.ts'
import {
  logsInFile,
  pidsOf,
  type RunningTarget,
  startTargets,
  storeFileBytes,
  type TargetId,
} from './http/targets.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Re-runs of one disturbed run at most, so a busy spell does not spend the whole budget on one row. */
const MAX_RETRIES_PER_RUN = 2
/** Seconds each run costs beyond its load: process start-up of wrk, counting, sampling. */
const RUN_OVERHEAD_S = 0.4
/** Seconds of the unmeasured first run of each target, before round 1. */
const WARM_PASS_S = 3
/**
 * How long the targets are left without load before "idle at end" is read: two windows of
 * edgecache's `server.idleMemoryRelease` (10 s), so that a worker has seen a quiet window
 * after the last busy one and given its memory back, as it does in service.
 */
const IDLE_WAIT_MS = 21_000

/** The commit being measured, `+dirty` when src/ has changes (dist/ is built from it). */
function gitRevision(): string | undefined {
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  const head = git(['rev-parse', '--short', 'HEAD'])
  if (head.status !== 0) return undefined
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'src']).stdout.trim() !== ''
  return `${head.stdout.trim()}${dirty ? '+dirty' : ''}`
}

/** When dist/main.js was built, and the first src/ file changed since, if any. */
function distState(): { builtAt: string; newerSource: string | undefined } {
  const builtMs = statSync(new URL('../dist/main.js', import.meta.url)).mtimeMs
  const src = fileURLToPath(new URL('../src/', import.meta.url))
  const newer = readdirSync(src, { recursive: true, encoding: 'utf8' }).find(
    (file) => file.endsWith('.ts') && statSync(`${src}${file}`).mtimeMs > builtMs,
  )
  return { builtAt: new Date(builtMs).toISOString(), newerSource: newer && `src/${newer}` }
}

/**
 * Stores each cacheable path in each proxy: a few requests on new connections so every
 * worker of a multi-process target gets one. A pause then puts /stale past max-age=1 even
 * by the proxy's own clock. Fills are not warmed: each of their requests asks a new path.
 */
async function warmCaches(targets: readonly RunningTarget[], specs: readonly RunSpec[]): Promise<void> {
  // Each path with the fields its case stores it with: a compressed case stores br only.
  const stored = new Map(
    specs
      .filter((s) => s.case.kind === 'hit' || s.case.kind === 'stale')
      .map((s) => [s.case.path, s.case.storeWith ?? s.case.headers ?? {}] as const),
  )
  for (const target of targets.filter((t) => t.proxies)) {
    const requests = 2 * pidsOf(target).length
    for (const [path, headers] of stored) {
      for (let i = 0; i < requests; i++) {
        const res = await get(`${target.url}${path}`, headers)
        if (res.status !== 200) throw new Error(`${target.id}: warming ${path}: status ${res.status}`)
      }
    }
  }
  if (stored.has('/stale')) await sleep(1_100)
}

/** Status and cache header of one request per path per proxy, to show each case measures what it says. */
async function sampleCacheStatus(
  targets: readonly RunningTarget[],
  specs: readonly RunSpec[],
): Promise<Record<string, Record<string, string>>> {
  const seen: Record<string, Record<string, string>> = {}
  for (const target of targets) {
    const header = target.cacheHeader
    if (header === undefined) continue
    const cases = new Map(specs.filter((s) => s.target === target.id).map((s) => [s.case.path, s.case]))
    const statuses: Record<string, string> = {}
    for (const [path, c] of cases) {
      // A fill's sample asks a path of its own, as each of its requests does.
      const url = `${target.url}${path}${c.kind === 'fill' ? `/sample-${target.id}` : ''}`
      const res = await get(url, c.headers)
      const coding = res.headers['content-encoding']
      statuses[path] =
        `${res.status} ${String(res.headers[header] ?? `(no ${header})`)}${coding === undefined ? '' : ` (${coding}, ${res.bytes} bytes)`}`
    }
    seen[target.id] = statuses
  }
  return seen
}

function describeRun(settings: Settings, runs: number, targets: number): string {
  const perRun = settings.durationS + settings.warmupS + RUN_OVERHEAD_S
  const warmPass = settings.warmupS > 0 ? targets * (WARM_PASS_S + settings.warmupS + RUN_OVERHEAD_S) : 0
  const seconds = Math.ceil(runs * settings.rounds * perRun + warmPass)
  return (
    `${runs} runs × ${settings.rounds} round(s), ${settings.durationS} s each after ${settings.warmupS} s ` +
    `of warm-up${warmPass > 0 ? `, after a first unmeasured run of each target` : ''}: ` +
    `about ${Math.floor(seconds / 60)} min ${seconds % 60} s of load`
  )
}

async function main(): Promise<void> {
  const settings = readSettings(process.argv.slice(2))
  stopChildrenOnExit()
  if (!existsSync(new URL('../dist/main.js', import.meta.url))) {
    throw new Error('dist/main.js not found: run `npm run build` first')
  }
  const tool = detectTool(settings.tool)
  const machine = describeMachine()
  const revision = gitRevision()
  const dist = distState()
  const limits = openFileLimits()
  // Every server and wrk gets as many open files as the hard limit allows, up to 65,535.
  const openFiles = Math.min(limits.hard, 65_535)
  if (settings.c10k && openFiles < C10K_CONNECTIONS + 1_000) {
    throw new Error(
      `--c10k: the open-file hard limit is ${limits.hard}; ${C10K_CONNECTIONS} connections need at ` +
        `least ${C10K_CONNECTIONS + 1_000} (raise it with ulimit -Hn as root, or in limits.conf)`,
    )
  }
  const busyBefore = await machineBusyShare(1_000)
  const startedAt = new Date()
  console.log(
    `# edgecache HTTP benchmark\n\n` +
      `${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, node ${machine.node}; ` +
      `load: ${tool.name} ${tool.version}${tool.name === 'wrk' ? `, ${settings.threads} thread(s)` : ', in-process'}; ` +
      `edgecache ${revision ?? ''} (dist/), local store in a fresh cache directory unless named, --log-level ${settings.logLevel}` +
      `${logsInFile(settings.logLevel) ? ' (logs to a file)' : ''}; ` +
      `open files per process: ${openFiles}.\n` +
      (dist.newerSource === undefined
        ? ''
        : `dist/ is older than ${dist.newerSource}: these figures may not be the tree's (npm run build)\n`) +
      (busyBefore === undefined ? '' : `CPU busy before starting: ${pct(busyBefore)}`) +
      (busyBefore !== undefined && busyBefore > NOISY_SHARE
        ? ' (something else is running: expect noisy figures)\n'
        : '\n'),
  )

  try {
    const node = process.execPath
    const origin = spawnTracked('origin', node, ['--import', 'tsx', 'bench/http/origin.ts'], ROOT, {
      openFiles,
    })
    const originUrl = `http://127.0.0.1:${await readPortLine(origin)}`
    const started = await startTargets(settings.targets, {
      root: ROOT,
      originUrl,
      origin,
      openFiles,
      logLevel: settings.logLevel,
    })
    for (const { id, reason } of started.skipped) process.stderr.write(`skipping ${id}: ${reason}\n`)
    const report = settings.c10k
      ? await c10kMode(settings, started.running, { tool, openFiles })
      : await comparisonMode(settings, started, { tool, openFiles, originUrl, origin: origin.pid })
    const finishedAt = new Date()
    const dir = new URL('./results/', import.meta.url)
    mkdirSync(dir, { recursive: true })
    const file = new URL(`${startedAt.toISOString().replace(/[:.]/g, '-')}.json`, dir)
    const targets = started.running.map((t) => ({ id: t.id, label: t.label, command: t.command }))
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          finishedAt: finishedAt.toISOString(),
          argv: process.argv.slice(2),
          machine,
          cpuBusyBeforeStart: busyBefore,
          tool: { ...tool, threads: tool.name === 'wrk' ? settings.threads : 1 },
          settings: { ...settings, cases: settings.cases.map((c) => c.id) },
          edgecache: { revision, dist, logLevel: settings.logLevel },
          targets,
          skipped: started.skipped,
          ...report,
        },
        null,
        2,
      )}\n`,
    )
    console.log(`\nresults: ${fileURLToPath(file).slice(ROOT.length)}`)
  } finally {
    await stopAll()
  }
}

async function c10kMode(
  settings: Settings,
  running: readonly RunningTarget[],
  env: { tool: MeasureContext['tool']; openFiles: number },
): Promise<Record<string, unknown>> {
  const targets = running.filter((t) => t.id !== 'origin')
  console.log(
    `--c10k: ${C10K_CONNECTIONS.toLocaleString('en-US')} connections on /hit/1k, ${settings.durationS} s per target, ` +
      `${settings.threads} wrk thread(s), timeout 5 s: ${targets.map((t) => t.id).join(', ')}\n`,
  )
  const results = await runC10k(targets, {
    tool: env.tool,
    root: ROOT,
    connections: C10K_CONNECTIONS,
    durationS: settings.durationS,
    threads: settings.threads,
    openFiles: env.openFiles,
  })
  const checks = checkC10k(results)
  console.log(formatC10kTable(results))
  console.log(`\n${formatChecks(checks)}`)
  return { c10k: results, checks }
}

async function comparisonMode(
  settings: Settings,
  started: Awaited<ReturnType<typeof startTargets>>,
  env: { tool: MeasureContext['tool']; openFiles: number; originUrl: string; origin: number },
): Promise<Record<string, unknown>> {
  const { running } = started
  const byId = new Map(running.map((t) => [t.id, t]))
  const specs = planRuns(
    settings.cases,
    running.map((t) => t.id),
    settings.connections,
  )
  console.log(`${describeRun(settings, specs.length, new Set(specs.map((spec) => spec.target)).size)}.\n`)
  await warmCaches(running, specs)
  const cacheStatus = await sampleCacheStatus(running, specs)

  const memory = new Map<
    TargetId,
    {
      label: string
      afterStart: number[]
      afterRuns: number[][]
      idleAtEnd: number[]
      rssAtEnd: number[]
      storeFileBytes: number | undefined
    }
  >()
  for (const t of running) {
    memory.set(t.id, {
      label: t.label,
      afterStart: anonRssOfEach(pidsOf(t)),
      afterRuns: [],
      idleAtEnd: [],
      rssAtEnd: [],
      storeFileBytes: undefined,
    })
  }
  const benchPids = () => [
    ...new Set([
      env.origin,
      ...running.flatMap(pidsOf),
      ...(started.redis === undefined ? [] : [started.redis.pid]),
    ]),
  ]
  const ctx: MeasureContext = {
    tool: env.tool,
    root: ROOT,
    durationS: settings.durationS,
    warmupS: settings.warmupS,
    threads: settings.threads,
    openFiles: env.openFiles,
    originUrl: env.originUrl,
    benchPids,
  }

  const measured = new Map<string, { kept: Measured[]; discarded: Measured[] }>()
  for (const spec of specs) measured.set(spec.id, { kept: [], discarded: [] })
  let retryBudgetS = settings.retryBudgetS
  const runCost = settings.durationS + settings.warmupS
  // One unmeasured run of each target's first case before round 1: the first load a fresh
  // process sees (JIT, heap growth, the VM's own warm-up) ran at a third of later rounds'
  // speed, and with three rounds that one run can move a median.
  if (settings.warmupS > 0) {
    const firstOfTarget = new Map<TargetId, (typeof specs)[number]>()
    for (const spec of specs) if (!firstOfTarget.has(spec.target)) firstOfTarget.set(spec.target, spec)
    for (const spec of firstOfTarget.values()) {
      process.stderr.write(`warming ${spec.target} on ${spec.id}\n`)
      await measure(spec, byId.get(spec.target)!, { ...ctx, durationS: WARM_PASS_S })
    }
  }
  for (let round = 1; round <= settings.rounds; round++) {
    for (const spec of specs) {
      const target = byId.get(spec.target)!
      const entry = measured.get(spec.id)!
      let run = await measure(spec, target, ctx)
      // Another process took CPU during the run: its figures say more about that process than
      // about ours. Run it again while the budget lasts, keeping the disturbed run on record.
      for (
        let retries = 0;
        (run.otherCpuShare ?? 0) > NOISY_SHARE && retryBudgetS >= runCost && retries < MAX_RETRIES_PER_RUN;
        retries++
      ) {
        retryBudgetS -= runCost
        entry.discarded.push(run)
        process.stderr.write(`${spec.id}: ${pct(run.otherCpuShare ?? 0)} of the CPU used elsewhere, again\n`)
        run = await measure(spec, target, ctx)
      }
      entry.kept.push(run)
      memory.get(spec.target)?.afterRuns.push([...run.anonRssBytes])
      const { result } = run
      process.stderr.write(
        `[${round}/${settings.rounds}] ${spec.id}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(3)} ms` +
          `${result.errors.socket + result.errors.timeout + result.errors.badStatus > 0 ? ', with errors' : ''}\n`,
      )
    }
  }
  const results: CaseResult[] = specs.map((spec) => {
    const { kept, discarded } = measured.get(spec.id)!
    const cpu = kept.map((m) => m.cpuUsPerRequest)
    const knownCpu = cpu.filter((c) => c !== undefined)
    const rounds = kept.map((m) => m.result)
    const target = byId.get(spec.target)!
    return {
      id: spec.id,
      case: spec.case,
      target: spec.target,
      targetLabel: target.label,
      connections: spec.connections,
      rounds,
      median: medianOf(rounds),
      cpuUsPerRequest: cpu,
      medianCpuUsPerRequest: knownCpu.length === cpu.length ? median(knownCpu) : undefined,
      otherCpuShare: kept.map((m) => m.otherCpuShare),
      ...(target.proxies ? { originRequests: kept.map((m) => m.originRequests ?? 0) } : {}),
      discarded: discarded.map((d) => ({ result: d.result, otherCpuShare: d.otherCpuShare })),
    }
  })
  await sleep(IDLE_WAIT_MS)
  const answeredAfterLoad: Record<string, boolean> = {}
  for (const t of running) {
    const record = memory.get(t.id)!
    record.idleAtEnd = anonRssOfEach(pidsOf(t))
    record.rssAtEnd = rssOfEach(pidsOf(t))
    record.storeFileBytes = storeFileBytes(t)
    answeredAfterLoad[t.id] = await get(`${t.url}/hit/1k`).then(
      (res) => res.status === 200,
      () => false,
    )
  }
  const memoryRecords = memory as ReadonlyMap<TargetId, MemoryRecord>
  const checks = checkTargets(results, memoryRecords)
  const stores = formatStoreTable(results)
  console.log(formatTable(results))
  console.log(
    '\n`× baseline`: hits against the bare node:http server with as many processes; misses and ' +
      'fills against the origin direct; stale serve against the same target’s 1 KiB hit. ' +
      'CPU µs/req counts every process of the target (workers, and redis-server for the Redis stores): ' +
      'per hit on a hit row, per forwarded request on a miss row, per stored answer on a fill row.',
  )
  console.log(
    `\nCPU µs per request, at the fewest connections each ran (the misses are no-store: ` +
      `forwarded and never stored; a fill is a miss whose 1 KiB answer is stored, each request ` +
      `a path not asked before):\n\n${formatCpuTable(results)}`,
  )
  if (stores !== undefined) console.log(`\nStores, hit 1 KiB, one worker:\n\n${stores}`)
  console.log(
    `\nMemory per target: anonymous resident memory (RssAnon: without mapped files such as the ` +
      `local store's data file), and the store's data file. "After start" is read once the ` +
      `warming requests are answered, before edgecache's first memory release (server.idleMemoryRelease, ` +
      `by default the end of the first quiet 10 s), so it shows more than an edgecache process keeps idle:\n\n${formatMemoryTable(memoryRecords)}`,
  )
  console.log(`\n${formatChecks(checks)}\n`)
  const stderr = Object.fromEntries(
    running.filter((t) => t.id.startsWith('edgecache')).map((t) => [t.id, t.main.stderr]),
  )
  console.log(formatNotes(results, { cacheStatus, stderr, answeredAfterLoad, skipped: started.skipped }))
  return {
    cacheStatus,
    memory: Object.fromEntries(memory),
    stderr,
    answeredAfterLoad,
    results,
    checks,
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
  await stopAll()
  process.exit(1)
})
