/**
 * The edgecache command as a child process (src/main.ts through tsx), and free ports for
 * tests where several workers must share one known port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'

const main = new URL('../../src/main.ts', import.meta.url).pathname

export interface RunningCommand {
  readonly child: ChildProcess
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>
  out(): string
  err(): string
}

export function runEdgecache(args: readonly string[], env: Record<string, string> = {}): RunningCommand {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
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
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
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
