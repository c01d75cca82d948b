/**
 * A real Sentinel deployment for the Redis suites: a master, one replica and three
 * sentinels (quorum 2), all `redis-server` processes on free loopback ports, with configs in
 * a temp dir. Sentinel runs as `redis-server FILE --sentinel`, so Debian's redis-server
 * package is all it needs. Failover is fast (1 s down-after) so a test can kill the master
 * and wait, by polling, for the replica's promotion.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './cli.ts'
import { authArgs, kill, run, type StartRedisOptions, spawnRedis, waitUntil } from './redis.ts'

export interface RedisSentinel {
  /** The master name the sentinels monitor. */
  readonly name: string
  /** redis:// URLs of the sentinels. */
  readonly sentinels: string[]
  /** Port of the data node that is master now, as the sentinels say. */
  masterPort(): Promise<number>
  /** Kills the current master and resolves once the sentinels have promoted the replica. */
  failover(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

const NAME = 'edgecache-test'

/**
 * Starts the deployment and resolves once the replica is in sync and every sentinel knows
 * the master, the replica and the other sentinels (so a failover can be agreed at once).
 * With `password` or `user`, both data nodes require them and the sentinels use them too.
 *
 * @example
 * const sentinel = await startRedisSentinel()
 * after(() => sentinel.stop())
 */
export async function startRedisSentinel(options: StartRedisOptions = {}): Promise<RedisSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-sentinel-'))
  const nodes = new Map<number, ChildProcess>()
  const sentinels: { port: number; child: ChildProcess }[] = []
  const stop = async () => {
    await Promise.all([...nodes.values(), ...sentinels.map((s) => s.child)].map(kill))
    await rm(dir, { recursive: true, force: true })
  }
  const auth = authArgs(options)
  const secret = options.user?.password ?? options.password
  // A replica (and a master that comes back as one) authenticates to its master as this.
  // A replica writes the master's snapshot to its working dir: keep it in the temp dir.
  const dataDir = ['--dir', dir]
  const replicaAuth = [
    ...(secret === undefined ? [] : ['--masterauth', secret]),
    ...(options.user === undefined ? [] : ['--masteruser', options.user.name]),
  ]
  const cli = (port: number, ...args: string[]) =>
    run('redis-cli', ['-p', String(port), ...cliAuth(options), ...args])
  try {
    const masterPort = await freePort()
    nodes.set(masterPort, await spawnRedis(masterPort, [...dataDir, ...auth, ...replicaAuth]))
    const replicaPort = await freePort()
    nodes.set(
      replicaPort,
      await spawnRedis(replicaPort, [
        ...dataDir,
        ...auth,
        ...replicaAuth,
        '--replicaof',
        '127.0.0.1',
        String(masterPort),
      ]),
    )
    await waitUntil(async () =>
      (await cli(replicaPort, 'info', 'replication')).includes('master_link_status:up'),
    )
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const file = join(dir, `sentinel-${i}.conf`)
      // Sentinel rewrites its config file as it learns the topology, so each gets its own.
      await writeFile(file, sentinelConf(masterPort, options))
      sentinels.push({ port, child: await spawnRedis(port, ['--sentinel', '--dir', dir], file) })
    }
    for (const { port } of sentinels) {
      await waitUntil(async () => {
        const master = await run('redis-cli', ['-p', String(port), 'sentinel', 'master', NAME])
        return (
          /num-slaves\n1\n/.test(master) &&
          /num-other-sentinels\n2\n/.test(master) &&
          /flags\nmaster\n/.test(master)
        )
      }, 20_000)
    }
  } catch (err) {
    await stop()
    throw err
  }
  const masterPort = async () => {
    const [host, port] = (
      await run('redis-cli', ['-p', String(sentinels[0]?.port), 'sentinel', 'get-master-addr-by-name', NAME])
    )
      .trim()
      .split('\n')
    if (host === undefined || port === undefined) throw new Error('sentinel: no master')
    return Number(port)
  }
  return {
    name: NAME,
    sentinels: sentinels.map(({ port }) => `redis://127.0.0.1:${port}`),
    masterPort,
    async failover(timeoutMs = 30_000) {
      const old = await masterPort()
      await kill(nodes.get(old) as ChildProcess)
      nodes.delete(old)
      // Every sentinel must agree, and the new master must take writes.
      await waitUntil(async () => {
        for (const { port } of sentinels) {
          const reply = await run('redis-cli', [
            '-p',
            String(port),
            'sentinel',
            'get-master-addr-by-name',
            NAME,
          ])
          if (reply.includes(String(old))) return false
        }
        const role = await cli(await masterPort(), 'role')
        return role.startsWith('master')
      }, timeoutMs)
    },
    stop,
  }
}

function sentinelConf(masterPort: number, options: StartRedisOptions): string {
  const lines = [
    `sentinel monitor ${NAME} 127.0.0.1 ${masterPort} 2`,
    `sentinel down-after-milliseconds ${NAME} 1000`,
    // Also how long a sentinel waits before trying again after a split vote.
    `sentinel failover-timeout ${NAME} 3000`,
    `sentinel parallel-syncs ${NAME} 1`,
  ]
  const secret = options.user?.password ?? options.password
  if (secret !== undefined) lines.push(`sentinel auth-pass ${NAME} ${secret}`)
  if (options.user !== undefined) lines.push(`sentinel auth-user ${NAME} ${options.user.name}`)
  return `${lines.join('\n')}\n`
}

function cliAuth(options: StartRedisOptions): string[] {
  if (options.user !== undefined)
    return ['--user', options.user.name, '--pass', options.user.password, '--no-auth-warning']
  if (options.password !== undefined) return ['-a', options.password, '--no-auth-warning']
  return []
}
