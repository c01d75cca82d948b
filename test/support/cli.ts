/**
 * The edgecache command as a child process (src/main.ts through tsx), and free ports for
 * tests where several workers must share one known port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const main = new URL('../../src/main.ts', import.meta.url).pathname

export interface RunningCommand {
  readonly child: ChildProcess
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>
  out(): string
  err(): string
}

/** The flags that put the proxy in front of `upstream`, on loopback ports `port` and `adminPort`. */
export function proxyFlags(upstream: string, port: number, adminPort: number): string[] {
  return ['--upstream', upstream, '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`]
}

/**
 * Runs the command. Unless `env` names one, it gets a cache directory of its own, removed
 * when it exits: commands run at once must not share one (the second would be refused).
 */
export function runEdgecache(args: readonly string[], env: Record<string, string> = {}): RunningCommand {
  const flagged = args.indexOf('--store')
  const driver = flagged === -1 ? (env.EDGECACHE_STORAGE__DRIVER ?? 'local') : args[flagged + 1]
  const hasDirectory = driver === 'local' || driver === 'tiered'
  const cacheDir =
    hasDirectory && env.EDGECACHE_STORAGE__LOCAL__PATH === undefined && !args.includes('--cache-dir')
      ? mkdtempSync(join(tmpdir(), 'edgecache-cli-'))
      : undefined
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      ...(cacheDir !== undefined && { EDGECACHE_STORAGE__LOCAL__PATH: cacheDir }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d) => {
    stdout += d
  })
  child.stderr?.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true })
      resolve(code)
    }),
  )
  return { child, exited, out: () => stdout, err: () => stderr }
}

/**
 * A port free right now, for workers that must share one known port (0 will not do).
 * It is taken below the kernel's ephemeral range: a port from that range, once released,
 * can be handed to another test's `listen(0)` or outgoing connection before the command
 * binds it, which then fails to listen (and requests meant for it may reach that server).
 * With `busOffset`, `port + busOffset` is free and below the range too (a Redis Cluster
 * node's bus port).
 */
export async function freePort(busOffset = 0): Promise<number> {
  const first = 10_000
  const last = ephemeralLow() - 1 - busOffset
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = first + Math.floor(Math.random() * (last - first + 1))
    if ((await canListen(port)) && (busOffset === 0 || (await canListen(port + busOffset)))) return port
  }
  throw new Error(`no free port found between ${first} and ${last}`)
}

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (low > 30_000) return low
  } catch {}
  return 32_768
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * The exit code of a command expected to end on its own; a command still running after
 * `boundMs` is killed (null), so a hang fails the test instead of stalling the suite.
 */
export async function exitCodeOf(run: RunningCommand, boundMs = 20_000): Promise<number | null> {
  const timer = setTimeout(() => run.child.kill('SIGKILL'), boundMs)
  try {
    return await run.exited
  } finally {
    clearTimeout(timer)
  }
}
