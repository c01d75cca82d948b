/**
 * Worker processes: the primary forks `workers` copies of edgecache that share the listen
 * ports (node:cluster), restarts one that crashes with a growing delay, and passes SIGTERM,
 * SIGINT and SIGHUP on. Each worker has its own memory store.
 */
import cluster, { type Worker } from 'node:cluster'

export interface SupervisorLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

const MAX_BACKOFF_MS = 30_000

/** Runs in the primary: forks and supervises `count` workers until told to stop. */
export function superviseWorkers(count: number, log: SupervisorLog): void {
  let stopping = false
  let restarts = 0
  const fork = (): Worker => cluster.fork()
  for (let i = 0; i < count; i++) fork()

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    restarts++
    // Back off so a worker that crashes at start does not spin the CPU.
    const delayMs = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(restarts - 1, 10))
    log.warn({ pid: worker.process.pid, code, signal, delayMs }, 'worker exited, restarting')
    setTimeout(fork, delayMs).unref()
  })
  // A worker that stays up a minute resets the backoff.
  cluster.on('online', () => {
    setTimeout(() => {
      restarts = 0
    }, 60_000).unref()
  })

  const stop = (signal: NodeJS.Signals) => {
    stopping = true
    log.info({ signal }, 'stopping workers')
    const workers = Object.values(cluster.workers ?? {})
    if (workers.length === 0) process.exit(0)
    for (const worker of workers) worker?.process.kill(signal)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGTERM'))
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP')
  })
}
