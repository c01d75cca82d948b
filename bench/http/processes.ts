/**
 * Child processes for the HTTP benchmark: start them, wait until they answer, read their
 * resident memory, and stop them by PID. Every child started here is tracked, so a
 * failure, an exit or a Ctrl-C stops all of them and nothing is left listening.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'

/** A child process with the last lines it wrote to stderr. */
export interface Child {
  readonly name: string
  readonly pid: number
  readonly process: ChildProcess
  /** stderr lines, the last 200 kept. */
  readonly stderr: string[]
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>
  hasExited(): boolean
}

const STDERR_LINES = 200
const STOP_GRACE_MS = 3_000
const running = new Set<Child>()

export interface SpawnOptions {
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>
  /**
   * Soft limit on open files for the child (`ulimit -n`), for servers and load tools that
   * hold thousands of connections. The child is started through `sh -c 'ulimit -n N; exec …'`:
   * exec keeps the PID, so it is still stopped by its own PID.
   */
  readonly openFiles?: number
}

/**
 * Spawns `command` with `args`, tracked until it exits.
 *
 * @example
 * const origin = spawnTracked('origin', process.execPath, ['--import', 'tsx', 'bench/http/origin.ts'], root)
 */
export function spawnTracked(
  name: string,
  command: string,
  args: readonly string[],
  cwd: string,
  options: SpawnOptions = {},
): Child {
  const [file, argv] =
    options.openFiles === undefined
      ? [command, args]
      : ['sh', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, command, ...args]]
  const env = options.env === undefined ? process.env : { ...process.env, ...options.env }
  const proc = spawn(file, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  // spawn reports ENOENT and the like through 'error', emitted later; without a listener it throws.
  proc.on('error', () => {})
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`)
  let ended = false
  const stderr: string[] = []
  let partial = ''
  proc.stderr?.setEncoding('utf8')
  proc.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) if (line.length > 0) stderr.push(line)
    if (stderr.length > STDERR_LINES) stderr.splice(0, stderr.length - STDERR_LINES)
  })
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => {
      ended = true
      running.delete(child)
      resolve(code ?? signal ?? 'unknown')
    })
  })
  const child: Child = { name, pid: proc.pid, process: proc, stderr, exited, hasExited: () => ended }
  running.add(child)
  return child
}

/** Reads the `{"port":N}` line a bench server prints once it listens. */
export function readPortLine(child: Child, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const timer = setTimeout(() => fail(`${child.name}: no port line within ${timeoutMs} ms`), timeoutMs)
    const fail = (message: string) => {
      clearTimeout(timer)
      reject(new Error(`${message}\n${child.stderr.join('\n')}`))
    }
    child.process.stdout?.setEncoding('utf8')
    child.process.stdout?.on('data', (chunk: string) => {
      buffered += chunk
      const end = buffered.indexOf('\n')
      if (end === -1) return
      const parsed = JSON.parse(buffered.slice(0, end)) as { port?: unknown }
      clearTimeout(timer)
      if (typeof parsed.port === 'number') resolve(parsed.port)
      else fail(`${child.name}: unexpected first line ${buffered.slice(0, end)}`)
    })
    child.exited.then((code) => fail(`${child.name}: exited (${code}) before listening`))
  })
}

/** Polls `url` until it answers 200, failing if `child` exits or `timeoutMs` passes. */
export async function waitForOk(url: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.hasExited()) {
      throw new Error(
        `${child.name}: exited (${await child.exited}) before ready\n${child.stderr.join('\n')}`,
      )
    }
    const status = await get(url).then(
      (res) => res.status,
      () => 0,
    )
    if (status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${child.name}: ${url} not ready within ${timeoutMs} ms\n${child.stderr.join('\n')}`)
}

/** One GET on its own connection; the body is read and dropped, its length kept. */
export function get(
  url: string,
  headers: Readonly<Record<string, string>> = {},
): Promise<{
  status: number
  headers: Record<string, string | string[] | undefined>
  bytes: number
  body: string
}> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 5_000, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes: body.length,
          body: body.toString('utf8'),
        })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/** A port free on 127.0.0.1 right now, for children that cannot report the one they got. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Resident memory of `pid` in bytes, from /proc/<pid>/status (Linux); undefined elsewhere or
 * once gone. `VmRSS` is all of it; `RssAnon` leaves out mapped files (the local store's data
 * file, the node binary's own pages), which the kernel can drop and reread at will.
 */
export function residentBytes(pid: number, field: 'VmRSS' | 'RssAnon'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status)
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** This process's limits on open files (`ulimit -Sn`, `-Hn`), inherited by its children. */
export function openFileLimits(): { soft: number; hard: number } {
  const read = (flag: string) => {
    const out = spawnSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).stdout?.trim() ?? ''
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out) || 1024
  }
  return { soft: read('-Sn'), hard: read('-Hn') }
}

/** `pid` and every process below it (nginx's workers, edgecache's and varnishd's children), from /proc. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return [pid]
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // The field after the state, which follows the command name in parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parentOf.set(Number(entry), ppid)
    } catch {
      // Gone between readdir and read.
    }
  }
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child)
  }
  return tree
}

/** Resident memory of each process of `pids`, mapped files included (VmRSS), bytes (those gone are left out). */
export function rssOfEach(pids: readonly number[]): number[] {
  return pids.map((pid) => residentBytes(pid, 'VmRSS')).filter((b) => b !== undefined)
}

/** Anonymous resident memory (RssAnon) of each process of `pids`, bytes (those gone are left out). */
export function anonRssOfEach(pids: readonly number[]): number[] {
  return pids.map((pid) => residentBytes(pid, 'RssAnon')).filter((b) => b !== undefined)
}

/**
 * Established TCP connections whose local port is `port`: the server side of the clients'
 * connections, from /proc/net/tcp and tcp6 (Linux); undefined elsewhere.
 */
export function establishedOn(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  let count = 0
  let read = false
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    read = true
    for (const line of text.split('\n')) {
      // "  sl  local_address rem_address   st …": the state 01 is ESTABLISHED.
      const fields = line.trim().split(/\s+/)
      if (fields[3] === '01' && fields[1]?.endsWith(`:${hexPort}`)) count++
    }
  }
  return read ? count : undefined
}

/** SIGTERM to the child's PID, SIGKILL if it is still there after a grace period. */
export async function stop(child: Child): Promise<void> {
  if (child.hasExited()) return
  child.process.kill('SIGTERM')
  const timer = setTimeout(() => {
    if (!child.hasExited()) child.process.kill('SIGKILL')
  }, STOP_GRACE_MS)
  await child.exited
  clearTimeout(timer)
}

/** Stops every tracked child. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stop))
}

/**
 * Stops every child on SIGINT/SIGTERM (then exits 130/143), and as a last resort kills
 * any still running when this process exits.
 */
export function stopChildrenOnExit(): void {
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    process.stderr.write(`\nbench: ${signal}, stopping ${running.size} child process(es)\n`)
    stopAll().finally(() => process.exit(code))
  }
  process.once('SIGINT', () => onSignal('SIGINT', 130))
  process.once('SIGTERM', () => onSignal('SIGTERM', 143))
  process.on('exit', () => {
    for (const child of running) child.process.kill('SIGKILL')
  })
}
