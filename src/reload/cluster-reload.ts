/**
 * A reload reaches every worker of an instance. The worker that took `POST /reload` (or
 * the primary, on SIGHUP) asks the primary, which tells each worker to reload, collects
 * what each did and answers with the sum. Each worker loads the config itself, from the
 * same file, environment and flags, so they agree on what is in force.
 */
import type { Worker } from 'node:cluster'
import {
  type ReloadReport,
  type ReloadScope,
  type ReloadTrigger,
  sumReloads,
  type WorkerReload,
} from './reload-report.ts'

type ReloadMessage =
  | {
      readonly type: 'edgecache:reload'
      readonly id: number
      readonly scope: ReloadScope
      readonly trigger: ReloadTrigger
    }
  | {
      readonly type: 'edgecache:reload-local'
      readonly id: number
      readonly scope: ReloadScope
      readonly trigger: ReloadTrigger
    }
  | { readonly type: 'edgecache:reloaded'; readonly id: number; readonly result: WorkerReload }
  | { readonly type: 'edgecache:reload-result'; readonly id: number; readonly report: ReloadReport }

function isReloadMessage(message: unknown): message is ReloadMessage {
  const type = (message as { type?: unknown } | null)?.type
  return typeof type === 'string' && type.startsWith('edgecache:reload')
}

/** A worker that has not reloaded within this long is reported as not having done so. */
const WORKER_TIMEOUT_MS = 5_000

/** Reloads every worker of the instance and says what each did. */
export type Reload = (scope: ReloadScope, trigger: ReloadTrigger) => Promise<ReloadReport>

/** The worker's own reload: load, check and apply, or refuse and keep what is in force. */
export type ApplyReload = (scope: ReloadScope, trigger: ReloadTrigger) => WorkerReload

/**
 * The worker's side. `ipc` is the worker's process channel; without one (a single process)
 * the reload is this process's alone.
 */
export function createReloader(
  apply: ApplyReload,
  ipc?: { send(message: ReloadMessage): void; onMessage(listener: (message: unknown) => void): void },
): Reload {
  if (ipc === undefined) return async (scope, trigger) => sumReloads([apply(scope, trigger)], 1)
  let nextId = 0
  const pending = new Map<number, (report: ReloadReport) => void>()
  ipc.onMessage((message) => {
    if (!isReloadMessage(message)) return
    if (message.type === 'edgecache:reload-local') {
      ipc.send({ type: 'edgecache:reloaded', id: message.id, result: apply(message.scope, message.trigger) })
    } else if (message.type === 'edgecache:reload-result') {
      pending.get(message.id)?.(message.report)
      pending.delete(message.id)
    }
  })
  return (scope, trigger) =>
    new Promise((resolve) => {
      const id = nextId++
      // The primary answers within WORKER_TIMEOUT_MS whatever the workers do; this is for a primary gone.
      const timer = setTimeout(() => {
        pending.delete(id)
        resolve(sumReloads([], 0, ['the primary process did not answer']))
      }, WORKER_TIMEOUT_MS * 2)
      pending.set(id, (report) => {
        clearTimeout(timer)
        resolve(report)
      })
      ipc.send({ type: 'edgecache:reload', id, scope, trigger })
    })
}

/** The cluster as the primary sees it: the parts of node:cluster this needs. */
export interface ReloadCluster {
  readonly workers?: NodeJS.Dict<Worker>
  on(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown
  on(event: 'exit', listener: (worker: Worker) => void): unknown
}

/**
 * The primary's side: answers workers' reload requests, and returns the function the
 * primary calls itself on SIGHUP.
 */
export function serveReloads(cluster: ReloadCluster): Reload {
  let nextId = 0
  const rounds = new Map<
    number,
    { waiting: Map<number, Worker>; results: WorkerReload[]; done: () => void }
  >()

  const reloadWorkers: Reload = (scope, trigger) =>
    new Promise((resolve) => {
      const id = nextId++
      const workers = Object.values(cluster.workers ?? {}).filter(
        (w): w is Worker => w?.isConnected() === true,
      )
      const waiting = new Map(workers.map((w) => [w.id, w]))
      const results: WorkerReload[] = []
      const done = () => {
        clearTimeout(timer)
        rounds.delete(id)
        const missing = [...waiting.values()].map(
          (w) => `worker ${w.process.pid} did not reload within ${WORKER_TIMEOUT_MS} ms`,
        )
        resolve(sumReloads(results, workers.length, missing))
      }
      const timer = setTimeout(done, WORKER_TIMEOUT_MS)
      rounds.set(id, { waiting, results, done })
      for (const worker of workers)
        worker.send({ type: 'edgecache:reload-local', id, scope, trigger } satisfies ReloadMessage)
      if (workers.length === 0) done()
    })

  cluster.on('message', (worker, message) => {
    if (!isReloadMessage(message)) return
    if (message.type === 'edgecache:reload') {
      reloadWorkers(message.scope, message.trigger).then((report) => {
        if (worker.isConnected())
          worker.send({ type: 'edgecache:reload-result', id: message.id, report } satisfies ReloadMessage)
      })
    } else if (message.type === 'edgecache:reloaded') {
      const round = rounds.get(message.id)
      if (round === undefined || !round.waiting.delete(worker.id)) return
      round.results.push(message.result)
      if (round.waiting.size === 0) round.done()
    }
  })
  // A worker that exits mid-round has nothing more to say; its replacement starts with
  // the config as it is then.
  cluster.on('exit', (worker) => {
    for (const round of rounds.values()) {
      if (round.waiting.delete(worker.id) && round.waiting.size === 0) round.done()
    }
  })
  return reloadWorkers
}
