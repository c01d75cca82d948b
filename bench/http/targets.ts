/**
 * The servers `npm run bench` loads: edgecache (one worker and every core over the local
 * store, every core over the memory store, and over the Redis and tiered stores), the origin
 * direct, a bare node:http server (one process and every core), a bare proxy (node:http
 * and undici, every core: the miss path's yardstick), nginx and Varnish. Starts
 * the selected ones as child processes on free loopback ports and says why any was skipped.
 * Each edgecache target with a local store gets a fresh cache directory of its own, removed
 * when it stops. Knows nothing of cases or reports.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Child, freePort, processTree, readPortLine, spawnTracked, waitForOk } from './processes.ts'
import { findBinary, startNginx, startRedis, startVarnish } from './rivals.ts'

export type TargetId =
  | 'edgecache-1'
  | 'edgecache-all'
  | 'edgecache-memory'
  | 'edgecache-tiered'
  | 'edgecache-redis'
  | 'origin'
  | 'bare-1'
  | 'bare-all'
  | 'bare-proxy'
  | 'nginx'
  | 'varnish'

export const TARGET_IDS: readonly TargetId[] = [
  'edgecache-1',
  'edgecache-all',
  'edgecache-memory',
  'edgecache-tiered',
  'edgecache-redis',
  'origin',
  'bare-1',
  'bare-all',
  'bare-proxy',
  'nginx',
  'varnish',
]

/**
 * edgecache logs at its own default unless `--log-level` says otherwise: at info every
 * request writes an access line (to a log file), as an instance with the defaults does.
 * `--log-level warn` leaves the lines out.
 */
export const LOG_LEVEL = 'info'
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** A started target. */
export interface RunningTarget {
  readonly id: TargetId
  /** As the table shows it: "edgecache, 2 workers". */
  readonly label: string
  readonly url: string
  readonly main: Child
  /**
   * One process or every core: a one-process target is compared with the one-process bare
   * server, the others with the bare server on every core.
   */
  readonly scale: 'one' | 'all'
  /** Processes doing this target's work outside its own tree (redis-server for the Redis stores). */
  readonly helpers: readonly Child[]
  /** Response header that names the cache outcome, for the notes; undefined for servers without a cache. */
  readonly cacheHeader: string | undefined
  /** Whether it proxies to the origin (its origin requests are counted). */
  readonly proxies: boolean
  /** Its own `--cache-dir` (the local and tiered stores), removed when it stops; undefined for the others. */
  readonly cacheDir: string | undefined
  readonly command: readonly string[]
}

/** `main` and its descendants, then the helpers: the processes whose CPU and memory count for `target`. */
export function pidsOf(target: RunningTarget): number[] {
  return [...processTree(target.main.pid), ...target.helpers.flatMap((h) => processTree(h.pid))]
}

/** Size of the local store's data file in `target`'s cache directory, bytes; undefined without one. */
export function storeFileBytes(target: RunningTarget): number | undefined {
  if (target.cacheDir === undefined) return undefined
  try {
    return statSync(join(target.cacheDir, 'store', 'data.mdb')).size
  } catch {
    return undefined
  }
}

export interface StartContext {
  /** The repository root: dist/ and bench/ are found from it. */
  readonly root: string
  readonly originUrl: string
  readonly origin: Child
  /** Open-file limit for each server (SpawnOptions.openFiles). */
  readonly openFiles: number
  /** edgecache's `--log-level`. */
  readonly logLevel: LogLevel
}

export interface Started {
  readonly running: RunningTarget[]
  readonly skipped: { readonly id: TargetId; readonly reason: string }[]
  /** The redis-server started for the Redis stores, if any. */
  readonly redis: Child | undefined
}

const CPUS = availableParallelism()
const node = process.execPath

/** Starts `ids` one after another (so none steals CPU from another's start), skipping what is not installed. */
export async function startTargets(ids: readonly TargetId[], ctx: StartContext): Promise<Started> {
  const running: RunningTarget[] = []
  const skipped: Started['skipped'] = []
  let redis: { child: Child; url: string } | undefined
  const needsRedis = ids.includes('edgecache-tiered') || ids.includes('edgecache-redis')
  const redisBin = needsRedis ? findBinary('redis-server') : undefined
  if (needsRedis && redisBin !== undefined) {
    const started = await startRedis(redisBin)
    redis = { child: started.child, url: `redis://127.0.0.1:${started.port}` }
  }
  for (const id of ids) {
    switch (id) {
      case 'edgecache-1':
        running.push(await startEdgecache(id, 'edgecache, 1 worker', ['--workers', '1'], 1, ctx, LOCAL))
        break
      case 'edgecache-all':
        // No --workers: its default is the CPU count.
        running.push(await startEdgecache(id, `edgecache, ${CPUS} workers`, [], CPUS, ctx, LOCAL))
        break
      case 'edgecache-memory': {
        // A memory store in each worker: with --cache-dir it is a config error.
        const label = `edgecache, ${CPUS} workers, memory store`
        running.push(await startEdgecache(id, label, ['--store', 'memory'], CPUS, ctx, { cacheDir: false }))
        break
      }
      case 'edgecache-tiered':
      case 'edgecache-redis': {
        if (redis === undefined) {
          skipped.push({ id, reason: 'redis-server not installed (apt-get install redis-server)' })
          break
        }
        const store = id === 'edgecache-tiered' ? 'tiered' : 'redis'
        const args = ['--workers', '1', '--store', store, '--redis-url', redis.url]
        // Its own key prefix, so the two stores never find each other's entries. The tiered
        // store's L1 is the local store, in a cache directory; redis alone has none.
        const options = {
          cacheDir: store === 'tiered',
          env: { EDGECACHE_STORAGE__REDIS__KEY_PREFIX: `bench-${store}:` },
        }
        const target = await startEdgecache(id, `edgecache, 1 worker, ${store} store`, args, 1, ctx, options)
        running.push({ ...target, helpers: [redis.child] })
        break
      }
      case 'origin':
        running.push({
          id,
          label: 'origin direct',
          url: ctx.originUrl,
          main: ctx.origin,
          scale: 'one',
          helpers: [],
          cacheHeader: undefined,
          proxies: false,
          cacheDir: undefined,
          command: [node, '--import', 'tsx', 'bench/http/origin.ts'],
        })
        break
      case 'bare-1':
      case 'bare-all': {
        const workers = id === 'bare-1' ? 1 : CPUS
        const args = ['--import', 'tsx', 'bench/http/bare.ts', '--workers', String(workers)]
        const main = spawnTracked(id, node, args, ctx.root, { openFiles: ctx.openFiles })
        const port = await readPortLine(main)
        running.push({
          id,
          label: workers === 1 ? 'bare node:http, 1 process' : `bare node:http, ${workers} workers`,
          url: `http://127.0.0.1:${port}`,
          main,
          scale: workers === 1 ? 'one' : 'all',
          helpers: [],
          cacheHeader: undefined,
          proxies: false,
          cacheDir: undefined,
          command: [node, ...args],
        })
        break
      }
      case 'bare-proxy': {
        const args = ['--import', 'tsx', 'bench/http/bare-proxy.ts', '--workers', String(CPUS)]
        const main = spawnTracked(id, node, [...args, '--upstream', ctx.originUrl], ctx.root, {
          openFiles: ctx.openFiles,
        })
        const port = await readPortLine(main)
        running.push({
          id,
          label: `bare proxy (node:http + undici), ${CPUS} workers`,
          url: `http://127.0.0.1:${port}`,
          main,
          scale: 'all',
          helpers: [],
          cacheHeader: undefined,
          proxies: true,
          cacheDir: undefined,
          command: [node, ...args, '--upstream', ctx.originUrl],
        })
        break
      }
      case 'nginx':
      case 'varnish': {
        const bin = findBinary(id === 'nginx' ? 'nginx' : 'varnishd')
        if (bin === undefined) {
          skipped.push({ id, reason: `${id === 'nginx' ? 'nginx' : 'varnishd'} not installed` })
          break
        }
        const originPort = Number(new URL(ctx.originUrl).port)
        // Varnish keeps its request log in shared memory whatever the level (varnishncsa
        // would be a separate process); nginx writes a file as edgecache does at info.
        const rival =
          id === 'nginx'
            ? await startNginx(bin, originPort, ctx.openFiles, logsInFile(ctx.logLevel))
            : await startVarnish(bin, originPort, ctx.openFiles)
        running.push({
          id,
          label: id === 'nginx' ? 'nginx proxy_cache' : 'Varnish',
          url: `http://127.0.0.1:${rival.port}`,
          main: rival.child,
          scale: 'all',
          helpers: [],
          cacheHeader: 'x-cache-status',
          proxies: true,
          cacheDir: undefined,
          command: rival.command,
        })
        break
      }
    }
  }
  return { running, skipped, redis: redis?.child }
}

/** How an edgecache target is started besides its flags. */
interface EdgecacheOptions {
  /** Whether it gets a fresh `--cache-dir` of its own (local and tiered stores only). */
  readonly cacheDir: boolean
  /** Added to its environment. */
  readonly env?: Readonly<Record<string, string>>
}

const LOCAL: EdgecacheOptions = { cacheDir: true }

/** Whether edgecache at `level` writes a line per request (so to a file, see startEdgecache). */
export function logsInFile(level: LogLevel): boolean {
  return level === 'info' || level === 'debug' || level === 'trace'
}

/**
 * A fresh temp directory for a target's cache or logs: no two targets share one, and each
 * run starts empty. Removed by `remove` (once the target has exited) or when this process
 * exits; by then stopChildrenOnExit's handler, added before this one, has killed the target.
 */
function freshTempDir(name: string): { readonly dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `edgecache-bench-${name}-`))
  const remove = () => rmSync(dir, { recursive: true, force: true })
  process.once('exit', remove)
  return { dir, remove }
}

async function startEdgecache(
  id: TargetId,
  label: string,
  extra: readonly string[],
  workers: number,
  ctx: StartContext,
  options: EdgecacheOptions,
): Promise<RunningTarget> {
  const [port, adminPort] = await Promise.all([freePort(), freePort()])
  const cache = options.cacheDir ? freshTempDir(id) : undefined
  // Below warn, logs go to a file as with the defaults in production (`log.file`), not to a
  // pipe nobody reads; in a directory of its own, removed as a cache directory is.
  const logs = logsInFile(ctx.logLevel) ? freshTempDir(`${id}-logs`) : undefined
  const args = [
    'dist/main.js',
    '--upstream',
    ctx.originUrl,
    '--listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--log-level',
    ctx.logLevel,
    ...(cache === undefined ? [] : ['--cache-dir', cache.dir]),
    ...extra,
  ]
  const env = {
    ...options.env,
    ...(logs === undefined ? {} : { EDGECACHE_LOG__FILE: join(logs.dir, 'edgecache.log') }),
  }
  const main = spawnTracked(id, node, args, ctx.root, {
    openFiles: ctx.openFiles,
    ...(Object.keys(env).length === 0 ? {} : { env }),
  })
  if (cache !== undefined) void main.exited.then(cache.remove)
  if (logs !== undefined) void main.exited.then(logs.remove)
  // With workers, /ready answers once the first is up: wait for all of them to be forked too.
  const deadline = Date.now() + 20_000
  while (workers > 1 && processTree(main.pid).length < workers + 1 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await waitForOk(`http://127.0.0.1:${adminPort}/ready`, main)
  return {
    id,
    label,
    url: `http://127.0.0.1:${port}`,
    main,
    scale: workers === 1 ? 'one' : 'all',
    helpers: [],
    cacheHeader: 'cache-status',
    proxies: true,
    cacheDir: cache?.dir,
    command: [node, ...args],
  }
}
