/**
 * The edgecache command as a child process (src/main.ts through tsx), and free ports for
 * tests where several workers must share one known port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
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

/** A port free right now: workers must share one known port, so 0 will not do. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
