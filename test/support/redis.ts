/**
 * Real redis-server processes for the Redis suites: one standalone server (optionally with a
 * password and an ACL user), or a local 3-master Cluster, each on free loopback ports with no
 * persistence. redis-sentinel.ts and redis-tls.ts build on the helpers exported here.
 * Nothing here talks to a system service; every process started is stopped by its PID.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { freePort } from './cli.ts'

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Stops the server (SIGKILL after 2 s) and waits for it to exit. */
  stop(): Promise<void>
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>
}

export interface RedisCluster {
  /** redis:// URLs of the masters. */
  readonly seeds: string[]
  stop(): Promise<void>
}

const INSTALL_HINT = 'redis-server is not on PATH: apt-get install redis-server'

/** True when `name` is an executable on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, name)))
}

/**
 * Why the Redis suites cannot run here, or undefined when they can. Pass it as
 * `describe(name, { skip: redisSkipReason() }, …)`. With `CI=true` a missing redis-server
 * throws instead, so CI fails rather than skipping.
 */
export function redisSkipReason(): string | undefined {
  if (onPath('redis-server') && onPath('redis-cli')) return undefined
  if (process.env.CI === 'true') throw new Error(`${INSTALL_HINT} (CI=true: the Redis suites must run)`)
  return INSTALL_HINT
}

export interface StartRedisOptions {
  /** `requirepass`: the password of the default user. */
  readonly password?: string
  /** An ACL user allowed every command on every key and channel. */
  readonly user?: { readonly name: string; readonly password: string }
}

/**
 * Starts redis-server on a free 127.0.0.1 port and resolves once it answers PING. `url`
 * carries no credentials: tests put them in as the case needs.
 *
 * @example
 * const redis = await startRedis({ user: { name: 'edge', password: 'edge-pw' } })
 * after(() => redis.stop())
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const port = await freePort()
  const args = authArgs(options)
  let child = await spawnRedis(port, args)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await kill(child)
    },
    async restart() {
      await kill(child)
      child = await spawnRedis(port, args)
    },
  }
}

/** redis-server arguments for `requirepass` and one ACL user with every permission. */
export function authArgs(options: StartRedisOptions): string[] {
  const args: string[] = []
  if (options.password !== undefined) args.push('--requirepass', options.password)
  if (options.user !== undefined) {
    args.push('--user', options.user.name, 'on', `>${options.user.password}`, '~*', '&*', '+@all')
  }
  return args
}

/**
 * Starts three cluster-enabled masters on free ports, joins them with
 * `redis-cli --cluster create` and resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-cluster-'))
  const children: ChildProcess[] = []
  const ports: number[] = []
  const stop = async () => {
    await Promise.all(children.map(kill))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) {
      // Each node also uses port + 10000 for its bus.
      let port = await freePort(10_000)
      while (ports.includes(port)) port = await freePort(10_000)
      ports.push(port)
      children.push(
        await spawnRedis(port, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${i}.conf`),
          '--cluster-node-timeout',
          '2000',
        ]),
      )
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    for (const port of ports) {
      await waitUntil(async () =>
        (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).includes('cluster_state:ok'),
      )
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { seeds: ports.map((p) => `redis://127.0.0.1:${p}`), stop }
}

/** Starts redis-server on `port` with `extra` arguments and waits until it answers. */
export async function spawnRedis(
  port: number,
  extra: readonly string[],
  configFile?: string,
): Promise<ChildProcess> {
  const args = [
    // redis-server takes a config file only as its first argument.
    ...(configFile === undefined ? [] : [configFile]),
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra],
  ]
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${output.slice(-500)}`)
      return ping(port)
    })
  } catch (err) {
    await kill(child)
    throw err
  }
  return child
}

/** True when a Redis on `port` answers PING: PONG, or NOAUTH when it wants a password. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'))
    })
  })
}

/** Polls `check` every 50 ms until it is true; throws after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis: not ready after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. */
export function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 2_000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Runs a command to completion and resolves with its standard output. */
export function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${err.message} ${stderr}`))
      else resolve(stdout)
    })
  })
}
