/**
 * The bench's own servers on every core: forks node:cluster workers sharing one port,
 * prints `{"port":N}` on stdout once every worker has said it listens, and stops them all
 * on SIGTERM or SIGINT. A worker that dies unasked ends the whole server.
 */
import cluster from 'node:cluster'

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
