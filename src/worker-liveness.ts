/**
 * Whether each worker is serving. A worker tells the primary once all its listeners are
 * open, then answers the primary's pings from its event loop; the primary kills one that
 * has been silent for `stallTimeoutMs`, and the supervisor starts a new one. A stuck
 * worker would otherwise hold its connections forever and, listening with a socket of its
 * own (server/accept-policy.ts), keep receiving its share of new ones, which would wait for
 * it. Varnish's manager does the same with its child (`ping_interval`, `cli_timeout`).
 *
 * A worker is watched from the moment it says it serves, so a slow start is not a stall.
 * The timeout is long by default (30 s): a worker busy for a moment, a long collection or
 * a large purge, must not be taken for a stuck one.
 */
import type { Cluster, Worker } from 'node:cluster'

const SERVING = 'edgecache:serving'
const PING = 'edgecache:ping'
const PONG = 'edgecache:pong'

function typeOf(message: unknown): unknown {
  return (message as { type?: unknown } | null)?.type
}

/** A worker's message once all its listeners are open. */
export function isServingMessage(message: unknown): boolean {
  return typeOf(message) === SERVING
}

export interface WatchdogLog {
  error(obj: object, msg: string): void
}

/** Runs in the primary. Returns a function that stops watching (on shutdown). */
export function watchWorkers(cluster: Cluster, stallTimeoutMs: number, log: WatchdogLog): () => void {
  if (stallTimeoutMs <= 0) return () => {}
  /**
   * When each worker last answered (monotonic ms: a step of the wall clock must not look
   * like silence), by worker id; a worker not here does not serve yet.
   */
  const heard = new Map<number, number>()
  cluster.on('message', (worker, message: unknown) => {
    const type = typeOf(message)
    if (type === SERVING || type === PONG) heard.set(worker.id, performance.now())
  })
  cluster.on('exit', (worker) => heard.delete(worker.id))
  const check = () => {
    const now = performance.now()
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker === undefined || !worker.isConnected()) continue
      const last = heard.get(worker.id)
      if (last !== undefined && now - last > stallTimeoutMs) {
        heard.delete(worker.id)
        log.error({ pid: worker.process.pid, silentMs: Math.round(now - last) }, 'worker stalled, killing it')
        worker.process.kill('SIGKILL')
        continue
      }
      ping(worker)
    }
  }
  // Several pings per timeout, so that one answered late does not count as silence.
  const timer = setInterval(check, Math.max(100, Math.min(1_000, stallTimeoutMs / 4)))
  timer.unref()
  return () => clearInterval(timer)
}

function ping(worker: Worker): void {
  // With a callback a closed channel is reported there rather than thrown as an 'error'
  // event: such a worker is on its way out, and its exit is the supervisor's to handle.
  worker.send({ type: PING }, () => {})
}

/**
 * Runs in a worker once all its listeners are open: says so to the primary, and from now
 * on answers its pings from this event loop.
 */
export function reportServing(): void {
  process.on('message', (message: unknown) => {
    if (typeOf(message) === PING) process.send?.({ type: PONG })
  })
  process.send?.({ type: SERVING })
}
