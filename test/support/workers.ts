/**
 * The edgecache command with `--workers 2` in front of a test origin, for the tests of
 * what workers share (metrics, status): started on free loopback ports, with a helper that
 * sends requests over new connections (so the primary spreads them over both workers) and
 * counts them, and one that waits until both workers hold a path.
 */
import type { ChildProcess } from 'node:child_process'
import { freePort, proxyFlags, runEdgecache } from './cli.ts'
import { type Reply, send, waitFor } from './client.ts'
import type { Origin } from './origin.ts'

export interface TwoWorkers {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  /** What the command wrote so far, stdout then stderr. */
  output(): string
  readonly port: number
  readonly adminPort: number
  /** GET `path` through the proxy on a new connection; counted in `sent()`. */
  get(path: string): Promise<Reply>
  /** Requests `get` has sent. */
  sent(): number
  /**
   * Waits until both workers serve, then GETs `path` once: the workers share one store, so
   * that one request stores it for both, and the origin has seen `path` once.
   */
  warm(origin: Origin, path: string): Promise<void>
}

/**
 * @example
 * const workers = await startTwoWorkers(origin)
 * await workers.warm(origin, '/w')
 */
export async function startTwoWorkers(
  origin: Origin,
  env: Record<string, string> = {},
  ports: { readonly port: number; readonly adminPort: number } | undefined = undefined,
): Promise<TwoWorkers> {
  // A restarted instance keeps its ports: the cache key holds the Host, port included.
  const port = ports?.port ?? (await freePort())
  const adminPort = ports?.adminPort ?? (await freePort())
  const { child, exited, out, err } = runEdgecache(
    [...proxyFlags(origin.url, port, adminPort), '--workers', '2', '--log-level', 'warn'],
    env,
  )
  let sent = 0
  const get = async (path: string) => {
    const res = await send(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } })
    sent++
    return res
  }
  return {
    child,
    exited,
    output: () => out() + err(),
    port,
    adminPort,
    get,
    sent: () => sent,
    async warm(o, path) {
      const running = () => {
        if (child.exitCode !== null)
          throw new Error(`edgecache exited with ${child.exitCode}: ${out() + err()}`)
      }
      await waitFor(async () => {
        running()
        // Cache-Status says the answer is edgecache's, not another server's on a reused port.
        const res = await get('/warm').catch(() => undefined)
        return res?.status === 200 && res.header('cache-status') !== undefined
      }, 20_000)
      // Both workers serving: /status.json sums the workers that have opened their listener.
      let lastStatus = 'no answer'
      await waitFor(async () => {
        running()
        const res = await send(`http://127.0.0.1:${adminPort}/status.json`, {
          headers: { connection: 'close' },
        }).catch((reason: unknown) => {
          lastStatus = String(reason)
        })
        if (res === undefined) return false
        lastStatus = `${res.status} ${res.text.slice(0, 300)}`
        return res.status === 200 && (JSON.parse(res.text) as { pids?: unknown[] }).pids?.length === 2
      }, 20_000).catch((failure: Error) => {
        // Says why when it fails: the last status answer and what edgecache printed.
        throw new Error(
          `${failure.message}: both workers never served; last /status.json: ${lastStatus}; output: ${out() + err()}`,
        )
      })
      await get(path)
      if (o.count(path) !== 1)
        throw new Error(`expected the origin to have seen ${path} once, got ${o.count(path)}`)
    },
  }
}

/**
 * The worker pids the primary sums /status over, once every worker answers; undefined when
 * it does not answer. Bounded: a connection a worker took in the instant it died or stopped
 * is never answered, and the tests poll this every few ms.
 */
export async function workerPids(adminPort: number): Promise<readonly number[] | undefined> {
  const res = await send(`http://127.0.0.1:${adminPort}/status.json`, {
    headers: { connection: 'close' },
    signal: AbortSignal.timeout(2_000),
  }).catch(() => undefined)
  return res?.status === 200 ? ((JSON.parse(res.text) as { pids?: number[] }).pids ?? []) : undefined
}

/** Waits until both workers serve, and returns their pids. */
export async function bothWorkerPids(adminPort: number): Promise<readonly number[]> {
  let pids: readonly number[] = []
  await waitFor(async () => {
    pids = (await workerPids(adminPort)) ?? []
    return pids.length === 2
  }, 20_000)
  return pids
}
