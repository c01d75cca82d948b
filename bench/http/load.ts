/**
 * Drives HTTP load at one URL, or at new paths under it, and reports requests per second,
 * latency percentiles and errors, with `wrk` when it is on PATH and autocannon (a
 * devDependency) otherwise. Both keep their connections alive and send one request at a
 * time on each (no pipelining).
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { spawnTracked } from './processes.ts'

/** The load generator in use, with the version it reported. */
export interface LoadTool {
  readonly name: 'wrk' | 'autocannon'
  readonly version: string
}

export interface LoadOptions {
  readonly url: string
  readonly connections: number
  readonly durationS: number
  /** wrk threads; autocannon runs in this process's one thread. */
  readonly threads: number
  /** Open-file limit for wrk (see SpawnOptions.openFiles); needed past about 1,000 connections. */
  readonly openFiles?: number
  /** Header fields every request carries. */
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Each request asks for a path no request asked before, under the URL's path:
   * `<path>/<token>/<thread>-<n>` with wrk (a counter per wrk thread), `<path>/<token>/<n>`
   * with autocannon. The token is random, new for every load, so no load asks for a path
   * an earlier one (a warm-up, another round) stored. @default false
   */
  readonly uniquePaths?: boolean
}

export interface LoadErrors {
  /** Connect, read and write errors (wrk), or request errors other than timeouts (autocannon). */
  readonly socket: number
  /** The connect errors among them (wrk; 0 with autocannon, which does not tell them apart). */
  readonly connect: number
  readonly timeout: number
  /** wrk: responses with status ≥ 400; autocannon: responses outside 2xx. */
  readonly badStatus: number
}

export interface LoadResult {
  readonly requests: number
  readonly durationS: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly bytes: number
  readonly errors: LoadErrors
}

const WRK_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url))

/** wrk if it runs, else autocannon; `prefer` forces one. */
export function detectTool(prefer?: LoadTool['name']): LoadTool {
  if (prefer !== 'autocannon') {
    const probe = spawnSync('wrk', ['--version'], { encoding: 'utf8' })
    // wrk --version prints its banner and exits 1; only a spawn error means it is absent.
    if (probe.error === undefined) {
      const banner = `${probe.stdout}${probe.stderr}`.split('\n')[0]?.trim() ?? ''
      return { name: 'wrk', version: /^wrk\s+(\S+)/.exec(banner)?.[1] ?? banner }
    }
    if (prefer === 'wrk') throw new Error('wrk: not found on PATH')
  }
  const pkgUrl = new URL('../../node_modules/autocannon/package.json', import.meta.url)
  const { version } = JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string }
  return { name: 'autocannon', version }
}

/** The path every unique path of one load starts with: the URL's path and a new random token. */
function uniquePrefix(url: string): string {
  return `${new URL(url).pathname.replace(/\/$/, '')}/${randomBytes(6).toString('hex')}`
}

/** Runs one load of `options.durationS` seconds against `options.url`. */
export function runLoad(tool: LoadTool, options: LoadOptions, cwd: string): Promise<LoadResult> {
  return tool.name === 'wrk' ? runWrk(options, cwd) : runAutocannon(options)
}

interface WrkReport {
  requests: number
  durationUs: number
  bytes: number
  p50Us: number
  p99Us: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
}

async function runWrk(options: LoadOptions, cwd: string): Promise<LoadResult> {
  const threads = Math.min(options.threads, options.connections)
  const args = [
    `-t${threads}`,
    `-c${options.connections}`,
    `-d${options.durationS}s`,
    '--timeout',
    '5s',
    '-s',
    WRK_SCRIPT,
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    options.url,
  ]
  // wrk-report.lua defines a `request` function (a path per request) only when this is set.
  const env = options.uniquePaths === true ? { WRK_UNIQUE_PATHS: uniquePrefix(options.url) } : undefined
  const child = spawnTracked('wrk', 'wrk', args, cwd, {
    ...(options.openFiles === undefined ? {} : { openFiles: options.openFiles }),
    ...(env === undefined ? {} : { env }),
  })
  let stdout = ''
  child.process.stdout?.setEncoding('utf8')
  child.process.stdout?.on('data', (chunk: string) => {
    stdout += chunk
  })
  const code = await child.exited
  const line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '))
  if (line === undefined) {
    throw new Error(
      `wrk ${args.join(' ')}: exited ${code} without a report\n${stdout}\n${child.stderr.join('\n')}`,
    )
  }
  const r = JSON.parse(line.slice('WRK_JSON '.length)) as WrkReport
  const durationS = r.durationUs / 1e6
  return {
    requests: r.requests,
    durationS,
    rps: r.requests / durationS,
    p50Ms: r.p50Us / 1000,
    p99Ms: r.p99Us / 1000,
    bytes: r.bytes,
    errors: {
      socket: r.connect + r.read + r.write,
      connect: r.connect,
      timeout: r.timeout,
      badStatus: r.status,
    },
  }
}

function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  // autocannon's own latency histogram has whole-millisecond resolution, too coarse for a
  // 0.1 ms comparison, so keep every response time (hrtime-based) and take percentiles here.
  const samples: number[] = []
  const prefix = options.uniquePaths === true ? uniquePrefix(options.url) : undefined
  let n = 0
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationS,
        pipelining: 1,
        timeout: 5,
        ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
        // autocannon builds each request again when it has a setupRequest: one counter for all connections.
        ...(prefix === undefined
          ? {}
          : { requests: [{ setupRequest: (request) => ({ ...request, path: `${prefix}/${++n}` }) }] }),
      },
      (err, result) => {
        if (err !== null) {
          reject(err)
          return
        }
        samples.sort((a, b) => a - b)
        resolve({
          requests: result.requests.total,
          durationS: result.duration,
          rps: result.requests.total / result.duration,
          p50Ms: percentile(samples, 50),
          p99Ms: percentile(samples, 99),
          bytes: result.throughput.total,
          errors: {
            socket: result.errors - result.timeouts,
            connect: 0,
            timeout: result.timeouts,
            badStatus: result.non2xx,
          },
        })
      },
    )
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      samples.push(responseTimeMs)
    })
  })
}

/** Nearest-rank percentile of sorted `values`; NaN when empty. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}
