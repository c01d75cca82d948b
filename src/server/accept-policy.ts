/**
 * How the workers of one instance take new connections on the proxy's ports.
 *
 * node:cluster's default on Linux has the primary accept every connection and hand it to a
 * worker, waiting for that worker's event loop to take each before sending the next: under
 * load that handoff was the bottleneck (p99 0.5–1.4 s at 1,024 connections,
 * docs/benchmarks.md). So the workers accept themselves, as nginx's do. Sharing one
 * listening socket, whichever worker wakes first takes a connection, and connections opened
 * together often went nearly all to one worker (59, 61 and 58 of 64 in three of six
 * runs), which then did the work of both while the other idled. On Linux each worker therefore listens
 * on a socket of its own on the same port (SO_REUSEPORT), and the kernel spreads new
 * connections evenly over them, as nginx's `reuseport` does.
 *
 * The price: connections still waiting in a worker's own queue when that worker exits are
 * reset (a shared queue would have kept them for the others), unless
 * `net.ipv4.tcp_migrate_req` is set. And the kernel lets any process of the same user join
 * the port, so the primary checks that the proxy's ports are free before it forks: a
 * second instance is refused at start, as it is without SO_REUSEPORT.
 *
 * `server.reusePort: false` keeps one shared socket, and `NODE_CLUSTER_SCHED_POLICY`,
 * node's own switch, still chooses: `rr` the primary's handoff, `none` one shared socket.
 */
import cluster from 'node:cluster'
import { createServer } from 'node:net'
import { certificateFilesOf } from '../config/tls.ts'
import type { Config } from '../config/schema.ts'
import type { EdgecacheError } from '../errors.ts'
import { listenError } from './listen-error.ts'

/** Node's variable for the cluster's scheduling policy; set, it is the user's choice. */
const POLICY_VARIABLE = 'NODE_CLUSTER_SCHED_POLICY'

/**
 * Each worker listens on a socket of its own (SO_REUSEPORT): on Linux, unless
 * `server.reusePort` is off or a policy is chosen.
 */
function ownSockets(config: Config): boolean {
  return config.server.reusePort && process.platform === 'linux' && process.env[POLICY_VARIABLE] === undefined
}

/** In the primary, before the first fork: workers accept for themselves. */
export function useWorkerAccept(): void {
  if (process.env[POLICY_VARIABLE] === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE
}

/** Whether this process should listen on the proxy's ports with a socket of its own. */
export function listensOnOwnSocket(config: Config): boolean {
  return cluster.isWorker && ownSockets(config)
}

interface ProxyAddress {
  readonly listener: 'proxy' | 'tls' | 'h2c'
  readonly host: string
  readonly port: number
}

/** The addresses the proxy's listeners open under `config`. */
function proxyAddresses(config: Config): ProxyAddress[] {
  const addresses: ProxyAddress[] = [{ listener: 'proxy', ...config.listen }]
  if (certificateFilesOf(config.tls).length > 0) addresses.push({ listener: 'tls', ...config.tls.listen })
  const h2c = config.http2.cleartextListen
  if (h2c !== undefined) addresses.push({ listener: 'h2c', ...h2c })
  return addresses
}

/**
 * In the primary, before forking workers that will listen with SO_REUSEPORT: the first
 * proxy address something already holds, as the error a worker would have met without
 * SO_REUSEPORT; undefined when all are free. Each is bound once without SO_REUSEPORT and
 * released at once.
 */
export async function proxyPortInUse(config: Config): Promise<EdgecacheError | undefined> {
  if (!ownSockets(config)) return undefined
  for (const { listener, host, port } of proxyAddresses(config)) {
    if (port === 0) continue
    const probe = createServer()
    const failure = await new Promise<unknown>((resolve) => {
      probe.once('error', resolve)
      probe.listen({ host, port }, () => resolve(undefined))
    })
    if (failure !== undefined) return listenError(listener, host, port, failure)
    await new Promise<void>((resolve) => probe.close(() => resolve()))
  }
  return undefined
}
