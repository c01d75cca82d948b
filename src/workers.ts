/**
 * Worker processes: the primary forks `workers` copies of edgecache that share the listen
 * ports (node:cluster) and the local store, restarts one that crashes with a growing delay,
 * passes SIGTERM, SIGINT and SIGUSR2 on, and turns SIGHUP into a reload of every worker. It
 * holds the workers' fill claims, and relays purges (for memory stores, one per worker),
 * reloads, metrics and status between them.
 */
import { randomUUID } from 'node:crypto'
import cluster, { type Worker } from 'node:cluster'
import type { AggregatorRegistry, PrometheusContentType } from 'prom-client'
import { mergeStatusReports } from './admin/status-merge.ts'
import { isStatusMessage, type StatusMessage } from './admin/status-messages.ts'
import type { StatusReport } from './admin/status-snapshot.ts'
import { releaseMemoryWhenQuiet } from './memory-release.ts'
import { isMetricsMessage, type MetricsMessage } from './observability/metrics-messages.ts'
import { serveReloads } from './reload/cluster-reload.ts'
import { useWorkerAccept } from './server/accept-policy.ts'
import { serveTicketKeys } from './server/cluster-ticket-keys.ts'
import { systemClock } from './clock.ts'
import { serveRateLimits } from './limits/cluster-rate-limiter.ts'
import { serveFillLocks } from './storage/worker-fill-locks.ts'
import { isInvalidationMessage } from './surrogate/cluster-invalidator.ts'
import { watchWorkers } from './worker-liveness.ts'

export interface SupervisorLog {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

const MAX_BACKOFF_MS = 30_000

/**
 * The variable that tells each worker its instance's name (for the Redis invalidation bus).
 * Not EDGECACHE_*: those are config, and config refuses names it does not know.
 */
export const INSTANCE_VARIABLE = 'EC_INSTANCE_ID'

/** The exit code of a process whose listener could not bind (a worker's, then the primary's). */
export const EXIT_CANNOT_LISTEN = 3

/** The exit code of a process whose config or routes do not load (the primary's, as with one process). */
export const EXIT_INVALID_CONFIG = 1

/**
 * A worker's exit code when its config or routes do not load (sysexits' EX_CONFIG): not 1,
 * which is also what an uncaught error exits with, and that worker is started again.
 */
export const WORKER_EXIT_INVALID_CONFIG = 78

/**
 * The primary's exit code when a worker exits with `code`, for the exits that no new
 * worker would get past; undefined for the others, after which the worker is replaced.
 */
function fatalExit(code: number | null): number | undefined {
  if (code === EXIT_CANNOT_LISTEN) return EXIT_CANNOT_LISTEN
  if (code === WORKER_EXIT_INVALID_CONFIG) return EXIT_INVALID_CONFIG
  return undefined
}

const FATAL = 'edgecache:fatal'

/**
 * Runs in a worker: tells the primary why this worker cannot go on (lines to print) and
 * the code it will exit with, before it exits.
 */
export function reportFatal(message: string, code: number): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve()
    else process.send({ type: FATAL, message, code }, undefined, {}, () => resolve())
  })
}

function isFatalMessage(message: unknown): message is { type: typeof FATAL; message: string; code: number } {
  const m = message as { type?: unknown; message?: unknown; code?: unknown } | null
  return m?.type === FATAL && typeof m.message === 'string' && typeof m.code === 'number'
}

/** How the primary supervises its workers. */
export interface SupervisorOptions {
  /** Workers kept running. */
  readonly count: number
  /** A worker silent this long is killed and replaced (worker-liveness.ts); 0: never. */
  readonly stallTimeoutMs: number
  /** `server.idleMemoryRelease`: the primary gives back what its start left, once; 0: never. */
  readonly idleMemoryReleaseMs: number
}

/** Runs in the primary: forks and supervises the workers until told to stop. */
export function superviseWorkers(
  { count, stallTimeoutMs, idleMemoryReleaseMs }: SupervisorOptions,
  log: SupervisorLog,
): void {
  let stopping = false
  let exitCode = 0
  let restarts = 0
  const instance = randomUUID()
  useWorkerAccept()
  const fork = (): Worker => cluster.fork({ [INSTANCE_VARIABLE]: instance })
  for (let i = 0; i < count; i++) fork()

  // A worker that cannot bind a listener, or load its config or routes, is not restarted:
  // the next one could not either. The primary prints the reason once (every worker meets
  // it) and ends as one process would (fatalExit).
  const giveUp = (message: string | undefined, code: number) => {
    if (stopping) return
    if (message !== undefined)
      for (const line of message.split('\n')) process.stderr.write(`edgecache: ${line}\n`)
    exitCode = code
    stopping = true
    stopWorkers('SIGTERM')
    // Workers stop at once when they serve nothing; this is for one that hangs.
    setTimeout(() => process.exit(exitCode), 4_000).unref()
  }
  cluster.on('message', (_worker, message: unknown) => {
    if (isFatalMessage(message)) giveUp(message.message, fatalExit(message.code) ?? message.code)
  })

  cluster.on('exit', (worker, code, signal) => {
    const fatal = fatalExit(code)
    if (fatal !== undefined) giveUp(undefined, fatal)
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode)
      return
    }
    restarts++
    // Back off so a worker that crashes at start does not spin the CPU.
    const delayMs = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(restarts - 1, 10))
    log.warn({ pid: worker.process.pid, code, signal, delayMs }, 'worker exited, restarting')
    // Unless edgecache is stopping by then (a signal, or another worker that cannot start).
    // Not unref'd: with every worker gone, this timer is what keeps the primary running.
    setTimeout(() => {
      if (!stopping) fork()
    }, delayMs)
  })
  // A worker that stays up a minute resets the backoff.
  cluster.on('online', () => {
    setTimeout(() => {
      restarts = 0
    }, 60_000).unref()
  })

  const stopWatching = watchWorkers(cluster, stallTimeoutMs, log)
  relayInvalidations()
  serveFillLocks(cluster)
  const reload = serveReloads(cluster)
  serveRateLimits(cluster, systemClock)
  serveTicketKeys(cluster)
  relayMetrics()
  relayStatus()
  // The primary finishes no request: start-up is its one busy spell (memory-release.ts).
  const stopMemoryRelease = releaseMemoryWhenQuiet({
    windowMs: idleMemoryReleaseMs,
    finishedRequests: () => 0,
    onReleased: (released) => log.debug(released, 'memory given back'),
  })

  function stop(signal: NodeJS.Signals): void {
    stopping = true
    log.info({ signal }, 'stopping workers')
    stopWorkers(signal)
  }

  function stopWorkers(signal: NodeJS.Signals): void {
    // A worker finishing its requests is not stalled.
    stopWatching()
    stopMemoryRelease()
    const workers = Object.values(cluster.workers ?? {})
    if (workers.length === 0) process.exit(exitCode)
    for (const worker of workers) worker?.process.kill(signal)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGTERM'))
  process.on('SIGHUP', () => {
    reload('config', 'signal').then((report) => {
      const { reloaded, workers, of, restartNeeded, problems } = report
      if (reloaded) log.info({ workers, restartNeeded }, 'config reloaded in every worker')
      else log.warn({ workers, of, problems }, 'config reload refused or incomplete')
    })
  })
  // SIGUSR2 reopens the log file, in every worker too.
  process.on('SIGUSR2', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGUSR2')
  })
}

/**
 * A purge one worker received runs on every worker; the asking worker gets the sum once all
 * have answered. A worker that exits meanwhile counts as done: its store is gone with it.
 */
function relayInvalidations(): void {
  let nextId = 0
  const rounds = new Map<
    number,
    { asker: Worker; askerId: number; waiting: Set<number>; purged: number; error?: string }
  >()
  const finish = (id: number) => {
    const round = rounds.get(id)
    if (round === undefined || round.waiting.size > 0) return
    rounds.delete(id)
    if (round.asker.isConnected()) {
      round.asker.send({
        type: 'edgecache:invalidate-result',
        id: round.askerId,
        purged: round.purged,
        ...(round.error === undefined ? {} : { error: round.error }),
      })
    }
  }
  cluster.on('message', (worker, message: unknown) => {
    if (!isInvalidationMessage(message)) return
    if (message.type === 'edgecache:invalidate') {
      const id = nextId++
      const workers = Object.values(cluster.workers ?? {}).filter(
        (w): w is Worker => w?.isConnected() === true,
      )
      rounds.set(id, {
        asker: worker,
        askerId: message.id,
        waiting: new Set(workers.map((w) => w.id)),
        purged: 0,
      })
      for (const w of workers) w.send({ type: 'edgecache:invalidate-local', id, request: message.request })
      finish(id)
    } else if (message.type === 'edgecache:invalidated') {
      const round = rounds.get(message.id)
      if (round === undefined) return
      round.waiting.delete(worker.id)
      round.purged += message.purged
      if (message.error !== undefined) round.error = message.error
      finish(message.id)
    }
  })
  cluster.on('exit', (worker) => {
    for (const [id, round] of rounds) {
      if (round.waiting.delete(worker.id)) finish(id)
    }
  })
}

/**
 * A scrape one worker received gets the sum over every worker: prom-client's
 * AggregatorRegistry asks each worker for its registry (each has registered it, see
 * src/observability/cluster-metrics.ts) and sums them; the text goes back to the asker. It
 * gives up after 5 s when a worker does not answer (one still starting, say), and the asker
 * answers the scrape with 503. prom-client is imported at the first scrape: a primary that
 * is never scraped does not hold its code in memory.
 */
function relayMetrics(): void {
  let aggregator: Promise<AggregatorRegistry<PrometheusContentType>> | undefined
  cluster.on('message', (worker, message: unknown) => {
    if (!isMetricsMessage(message) || message.type !== 'edgecache:metrics') return
    const reply = (result: { text: string } | { error: string }) => {
      const answer: MetricsMessage = { type: 'edgecache:metrics-result', id: message.id, ...result }
      if (worker.isConnected()) worker.send(answer)
    }
    aggregator ??= import('prom-client').then((prom) => new prom.AggregatorRegistry())
    aggregator
      .then((registry) => registry.clusterMetrics())
      .then(
        (text) => reply({ text }),
        (err: unknown) => reply({ error: String((err as Error)?.message ?? err) }),
      )
  })
}

/**
 * A /status one worker received gets the sum over every worker: the primary asks each
 * worker for its report, sums them (src/admin/status-merge.ts, pure and small, so the
 * primary stays light) and sends the sum back to the asker. Only workers that have opened
 * a listener are asked: one still starting has served nothing, and waiting for it would
 * fail the page after every restart. A worker that exits meanwhile drops out, its figures
 * gone with it. When one does not answer within `timeoutMs`, the asker answers 503 rather
 * than show a partial sum as the whole.
 */
function relayStatus(timeoutMs = 5_000): void {
  const listening = new Set<number>()
  cluster.on('listening', (worker) => listening.add(worker.id))
  let nextId = 0
  const rounds = new Map<
    number,
    {
      asker: Worker
      askerId: number
      waiting: Set<number>
      reports: StatusReport[]
      timer: NodeJS.Timeout
    }
  >()
  const end = (id: number, result: { report: StatusReport } | { error: string }) => {
    const round = rounds.get(id)
    if (round === undefined) return
    rounds.delete(id)
    clearTimeout(round.timer)
    const answer: StatusMessage = { type: 'edgecache:status-result', id: round.askerId, ...result }
    if (round.asker.isConnected()) round.asker.send(answer)
  }
  const finish = (id: number) => {
    const round = rounds.get(id)
    if (round === undefined || round.waiting.size > 0) return
    if (round.reports.length === 0) return end(id, { error: 'no worker answered' })
    end(id, { report: mergeStatusReports(round.reports) })
  }
  cluster.on('message', (worker, message: unknown) => {
    if (!isStatusMessage(message)) return
    if (message.type === 'edgecache:status') {
      const id = nextId++
      const workers = Object.values(cluster.workers ?? {}).filter(
        (w): w is Worker => w?.isConnected() === true && (listening.has(w.id) || w.id === worker.id),
      )
      const timer = setTimeout(() => {
        const waiting = rounds.get(id)?.waiting.size ?? 0
        end(id, { error: `${waiting} of ${workers.length} workers did not answer within ${timeoutMs} ms` })
      }, timeoutMs)
      rounds.set(id, {
        asker: worker,
        askerId: message.id,
        waiting: new Set(workers.map((w) => w.id)),
        reports: [],
        timer,
      })
      const ask: StatusMessage = { type: 'edgecache:status-local', id }
      for (const w of workers) w.send(ask)
    } else if (message.type === 'edgecache:status-report') {
      const round = rounds.get(message.id)
      if (round === undefined || !round.waiting.delete(worker.id)) return
      round.reports.push(message.report)
      finish(message.id)
    }
  })
  cluster.on('exit', (worker) => {
    listening.delete(worker.id)
    for (const [id, round] of rounds) {
      if (round.waiting.delete(worker.id)) finish(id)
    }
  })
}
