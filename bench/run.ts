/**
 * `npm run bench`: edgecache against a bare node:http server under HTTP load, all on
 * loopback. Starts an origin, the bare server and edgecache (dist/main.js, one worker,
 * log level warn) as child processes on ephemeral ports, loads each case with wrk (or
 * autocannon when wrk is absent), prints a markdown table and the first targets as
 * pass/fail lines, and writes everything to bench/results/<timestamp>.json.
 *
 * Flags: --duration S (5), --connections N (64), --rounds N (1), --warmup S (1, a load
 * before each measured run, 0 for none), --threads N (wrk threads, 1), --tool wrk|autocannon,
 * --retry-budget S (30: seconds to spend re-running runs that other processes disturbed).
 * Speed is never asserted in `npm test`; this only reports.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cpuNs, machineBusyShare, watchOtherCpu } from './http/cpu.ts'
import { detectTool, type LoadOptions, type LoadResult, type LoadTool, runLoad } from './http/load.ts'
import {
  type Child,
  freePort,
  get,
  readPortLine,
  rssBytes,
  spawnTracked,
  stopAll,
  stopChildrenOnExit,
  waitForOk,
} from './http/processes.ts'
import {
  type CaseResult,
  describeMachine,
  firstTargets,
  formatChecks,
  formatNotes,
  formatTable,
  median,
  medianOf,
  NOISY_SHARE,
  pct,
  type Target,
} from './http/report.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const LOG_LEVEL = 'warn'

interface Settings {
  readonly durationS: number
  readonly connections: number
  readonly rounds: number
  readonly warmupS: number
  readonly retryBudgetS: number
  readonly threads: number
  readonly tool: LoadTool['name'] | undefined
}

function readSettings(argv: readonly string[]): Settings {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '1' },
      warmup: { type: 'string', default: '1' },
      'retry-budget': { type: 'string', default: '30' },
      threads: { type: 'string', default: '1' },
      tool: { type: 'string' },
    },
  })
  const number = (name: string, raw: string, min: number) => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name}: expected an integer ≥ ${min}, got "${raw}"`)
    return n
  }
  if (values.tool !== undefined && values.tool !== 'wrk' && values.tool !== 'autocannon') {
    throw new Error(`--tool: expected wrk or autocannon, got "${values.tool}"`)
  }
  return {
    durationS: number('duration', values.duration, 1),
    connections: number('connections', values.connections, 1),
    rounds: number('rounds', values.rounds, 1),
    warmupS: number('warmup', values.warmup, 0),
    retryBudgetS: number('retry-budget', values['retry-budget'], 0),
    threads: number('threads', values.threads, 1),
    tool: values.tool,
  }
}

interface CaseSpec {
  readonly id: string
  readonly label: string
  readonly target: Target
  readonly path: string
  readonly connections: number
}

/** Each path through edgecache, then straight to the origin: the two runs sit side by side. */
function caseSpecs(connections: number): CaseSpec[] {
  const paths = [
    { key: 'hit-1k', label: 'hit 1 KiB', path: '/hit/1k' },
    { key: 'hit-64k', label: 'hit 64 KiB', path: '/hit/64k' },
    { key: 'miss', label: 'miss (no-store)', path: '/miss' },
    { key: 'stale', label: 'stale serve', path: '/stale' },
  ]
  return [
    { id: `bare/c${connections}`, label: 'fixed 1 KiB', target: 'bare', path: '/', connections },
    ...paths.flatMap(({ key, label, path }) =>
      (['edgecache', 'origin'] as const).map((target) => ({
        id: `${key}/${target}/c${connections}`,
        label,
        target,
        path,
        connections,
      })),
    ),
    // Service time: one connection, so each request waits for the one before.
    { id: 'bare/c1', label: 'fixed 1 KiB', target: 'bare', path: '/', connections: 1 },
    { id: 'hit-1k/edgecache/c1', label: 'hit 1 KiB', target: 'edgecache', path: '/hit/1k', connections: 1 },
  ]
}

/** One measured run and what was counted around it. */
interface Measured {
  readonly result: LoadResult
  /** CPU time of the target's process per answered request, µs. */
  readonly cpuUsPerRequest: number | undefined
  /** Share of the machine's CPU used by processes outside the benchmark during the run. */
  readonly otherCpuShare: number | undefined
  /** Requests the origin served for this path during the run (edgecache cases). */
  readonly originRequests: number | undefined
}

interface Servers {
  readonly origin: Child
  readonly bare: Child
  readonly proxy: Child
  readonly urls: Readonly<Record<Target, string>>
  readonly proxyArgs: readonly string[]
}

async function startServers(): Promise<Servers> {
  const node = process.execPath
  const origin = spawnTracked('origin', node, ['--import', 'tsx', 'bench/http/origin.ts'], ROOT)
  const bare = spawnTracked('bare', node, ['--import', 'tsx', 'bench/http/bare.ts'], ROOT)
  const [originPort, barePort, proxyPort, adminPort] = await Promise.all([
    readPortLine(origin),
    readPortLine(bare),
    freePort(),
    freePort(),
  ])
  const originUrl = `http://127.0.0.1:${originPort}`
  const proxyArgs = [
    'dist/main.js',
    '--upstream',
    originUrl,
    '--listen',
    `127.0.0.1:${proxyPort}`,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--workers',
    '1',
    '--log-level',
    LOG_LEVEL,
  ]
  const proxy = spawnTracked('edgecache', node, proxyArgs, ROOT)
  await waitForOk(`http://127.0.0.1:${adminPort}/ready`, proxy)
  return {
    origin,
    bare,
    proxy,
    proxyArgs,
    urls: {
      bare: `http://127.0.0.1:${barePort}`,
      edgecache: `http://127.0.0.1:${proxyPort}`,
      origin: originUrl,
    },
  }
}

/** The commit being measured, `+dirty` when the tree has changes (dist/ is built from it). */
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

async function originCounts(originUrl: string): Promise<Record<string, number>> {
  return JSON.parse((await get(`${originUrl}/__counts`)).body) as Record<string, number>
}

/** Cache-Status of one request per edgecache path, to show each case measures what it says. */
async function sampleCacheStatus(
  proxyUrl: string,
  paths: readonly string[],
): Promise<Record<string, string>> {
  const seen: Record<string, string> = {}
  for (const path of paths) {
    const res = await get(`${proxyUrl}${path}`)
    seen[path] = `${res.status} ${String(res.headers['cache-status'] ?? '(no cache-status)')}`
  }
  return seen
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
  const busyBefore = await machineBusyShare(1_000)
  const startedAt = new Date()
  const specs = caseSpecs(settings.connections)
  const measureS = specs.length * settings.rounds * (settings.durationS + settings.warmupS)
  console.log(
    `# edgecache HTTP benchmark\n\n${machine.nproc} CPUs (${machine.cpuModel}), node ${machine.node}; ` +
      `load: ${tool.name} ${tool.version}${tool.name === 'wrk' ? `, ${settings.threads} thread(s)` : ', in-process'}; ` +
      `edgecache ${revision ?? ''} (dist/): 1 worker, memory store, --log-level ${LOG_LEVEL} (no access logs).\n` +
      `${settings.connections} connections, ${settings.durationS} s per run after ${settings.warmupS} s warm-up, ` +
      `${settings.rounds} round(s): about ${Math.ceil(measureS)} s of load.\n` +
      (dist.newerSource === undefined
        ? ''
        : `dist/ is older than ${dist.newerSource}: these figures may not be the tree's (npm run build)\n`) +
      (busyBefore === undefined ? '' : `CPU busy before starting: ${pct(busyBefore)}`) +
      (busyBefore !== undefined && busyBefore > NOISY_SHARE
        ? ' (something else is running: expect noisy figures)\n'
        : '\n'),
  )

  const servers = await startServers()
  try {
    const { urls, proxy } = servers
    const rss: Record<string, number | undefined> = { afterStart: rssBytes(proxy.pid) }

    // One request stores each cacheable path; /stale arrives already stale (see origin.ts),
    // and the pause puts it past max-age=1 even by the proxy's own clock.
    for (const path of ['/hit/1k', '/hit/64k', '/stale']) {
      const res = await get(`${urls.edgecache}${path}`)
      if (res.status !== 200) throw new Error(`warming ${path}: status ${res.status}`)
    }
    await sleep(1_100)
    const cacheStatus = await sampleCacheStatus(urls.edgecache, ['/hit/1k', '/hit/64k', '/miss', '/stale'])

    const results: CaseResult[] = []
    const pidOf: Readonly<Record<Target, number>> = {
      bare: servers.bare.pid,
      edgecache: proxy.pid,
      origin: servers.origin.pid,
    }
    /** One measured run of `spec`, with the CPU and origin figures taken around it. */
    const measure = async (spec: CaseSpec): Promise<Measured> => {
      const load: LoadOptions = {
        url: `${urls[spec.target]}${spec.path}`,
        connections: spec.connections,
        durationS: settings.durationS,
        threads: settings.threads,
      }
      if (settings.warmupS > 0) await runLoad(tool, { ...load, durationS: settings.warmupS }, ROOT)
      const before = spec.target === 'edgecache' ? await originCounts(urls.origin) : undefined
      const cpuBefore = cpuNs(pidOf[spec.target])
      const otherCpu = watchOtherCpu(Object.values(pidOf))
      const result = await runLoad(tool, load, ROOT)
      const cpuAfter = cpuNs(pidOf[spec.target])
      const otherCpuShare = otherCpu()
      const after = before === undefined ? undefined : await originCounts(urls.origin)
      if (proxy.hasExited()) throw new Error(`edgecache exited (${await proxy.exited}) during ${spec.id}`)
      return {
        result,
        otherCpuShare,
        cpuUsPerRequest:
          cpuBefore === undefined || cpuAfter === undefined || result.requests === 0
            ? undefined
            : (cpuAfter - cpuBefore) / 1000 / result.requests,
        originRequests:
          before === undefined || after === undefined
            ? undefined
            : (after[spec.path] ?? 0) - (before[spec.path] ?? 0),
      }
    }

    const measured = new Map<string, { kept: Measured[]; discarded: Measured[] }>()
    for (const spec of specs) measured.set(spec.id, { kept: [], discarded: [] })
    let retryBudgetS = settings.retryBudgetS
    for (let round = 1; round <= settings.rounds; round++) {
      for (const spec of specs) {
        const entry = measured.get(spec.id)!
        let run = await measure(spec)
        // Another process took CPU during the run: its figures say more about that process than
        // about ours. Run it again while the budget lasts, keeping the disturbed run on record.
        while (
          (run.otherCpuShare ?? 0) > NOISY_SHARE &&
          retryBudgetS >= settings.durationS + settings.warmupS
        ) {
          retryBudgetS -= settings.durationS + settings.warmupS
          entry.discarded.push(run)
          process.stderr.write(
            `${spec.id}: ${pct(run.otherCpuShare ?? 0)} of the CPU used elsewhere, again\n`,
          )
          run = await measure(spec)
        }
        entry.kept.push(run)
        if (spec.target === 'edgecache') {
          rss[`after ${spec.id}${settings.rounds > 1 ? ` #${round}` : ''}`] = rssBytes(proxy.pid)
        }
        const { result } = run
        process.stderr.write(
          `${spec.id}: ${Math.round(result.rps)} req/s, p50 ${result.p50Ms.toFixed(3)} ms` +
            `${result.errors.socket + result.errors.timeout + result.errors.badStatus > 0 ? ', with errors' : ''}\n`,
        )
      }
    }
    for (const spec of specs) {
      const { kept, discarded } = measured.get(spec.id)!
      const cpu = kept.map((m) => m.cpuUsPerRequest)
      const knownCpu = cpu.filter((c) => c !== undefined)
      const rounds = kept.map((m) => m.result)
      results.push({
        ...spec,
        rounds,
        median: medianOf(rounds),
        cpuUsPerRequest: cpu,
        medianCpuUsPerRequest: knownCpu.length === cpu.length ? median(knownCpu) : undefined,
        otherCpuShare: kept.map((m) => m.otherCpuShare),
        ...(spec.target === 'edgecache' ? { originRequests: kept.map((m) => m.originRequests ?? 0) } : {}),
        discarded,
      })
    }
    await sleep(1_000)
    rss.idleAfterLoad = rssBytes(proxy.pid)
    const stillReady = await get(`${urls.edgecache}/hit/1k`).then(
      (res) => res.status === 200,
      () => false,
    )

    const checks = firstTargets(results, settings.connections)
    console.log(formatTable(results))
    console.log(`\n${formatChecks(checks)}\n`)
    console.log(
      formatNotes(results, {
        cacheStatus,
        rss,
        stderr: proxy.stderr,
        answeredAfterLoad: stillReady,
        logLevel: LOG_LEVEL,
      }),
    )

    const finishedAt = new Date()
    const report = {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      machine,
      cpuBusyBeforeStart: busyBefore,
      tool: { ...tool, threads: tool.name === 'wrk' ? settings.threads : 1 },
      settings,
      edgecache: {
        revision,
        dist,
        command: ['node', ...servers.proxyArgs],
        logLevel: LOG_LEVEL,
        cacheStatus,
        rssBytes: rss,
        stderr: proxy.stderr,
        answeredAfterLoad: stillReady,
      },
      results,
      checks,
    }
    const dir = new URL('./results/', import.meta.url)
    mkdirSync(dir, { recursive: true })
    const file = new URL(`${startedAt.toISOString().replace(/[:.]/g, '-')}.json`, dir)
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
    console.log(`\nresults: ${fileURLToPath(file).slice(ROOT.length)}`)
  } finally {
    await stopAll()
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
  await stopAll()
  process.exit(1)
})
