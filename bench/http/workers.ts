/**
 * The bench's own servers on every core: forks node:cluster workers sharing one port,
 * prints `{"port":N}` on stdout once every worker has said it listens, and stops them all
 * on SIGTERM or SIGINT. A worker that dies unasked ends the whole server. `serveOnLoopback`
 * is each worker's side (or the one process's, without workers).
 */
import cluster from 'node:cluster'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * Listens on an ephemeral loopback port and says which: to the primary from a worker, on
 * stdout from a lone process. On SIGTERM or SIGINT closes every connection, waits for
 * `beforeExit` and exits. The backlog is edgecache's default (server.backlog), so --c10k
 * compares like with like.
 */
export function serveOnLoopback(server: Server, beforeExit?: () => Promise<void>): void {
  // In a cluster the primary owns the listening socket: listen(0) in every worker gets the same port.
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    const port = (server.address() as AddressInfo).port
    if (cluster.isWorker) process.send?.({ port })
    else process.stdout.write(`${JSON.stringify({ port })}\n`)
  })
  const stop = () => {
    server.closeAllConnections()
    server.close(() => void (beforeExit?.() ?? Promise.resolve()).then(() => process.exit(0)))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

/**
 * @param workers how many to fork.
 * @param acceptInWorkers each worker accepts from the listening socket itself, as
 *   edgecache's do; otherwise node:cluster's default, the primary handing connections out.
 */
export function superviseWorkers(workers: number, acceptInWorkers = false): void {
  if (acceptInWorkers) cluster.schedulingPolicy = cluster.SCHED_NONE
  let listening = 0
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (message: { port?: number }) => {
      listening++
      if (listening === workers) process.stdout.write(`${JSON.stringify({ port: message.port })}\n`)
    })
  }
  let stopping = false
  // A worker that dies unasked makes the yardstick meaningless: stop rather than restart.
  cluster.on('exit', () => {
    if (!stopping) process.exit(1)
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
  })
  const stop = () => {
    stopping = true
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
