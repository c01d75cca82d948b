/**
 * The servers edgecache is compared with, run from the configs shipped in bench/: nginx
 * `proxy_cache` (bench/nginx.conf.template) and Varnish (bench/varnish.vcl.template), each
 * in front of the benchmark origin on a free loopback port, plus a throwaway redis-server
 * for the Redis and tiered stores. Each writes only under one temp directory, removed at
 * exit, and is stopped by its PID like every other child. A missing binary is a skip
 * reason, not an error.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Child, freePort, get, spawnTracked } from './processes.ts'

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url))
const READY_TIMEOUT_MS = 20_000

/** Where `name` is installed: PATH first, then the sbin directories a non-root PATH lacks. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']
  return dirs.map((dir) => join(dir, name)).find((path) => path !== name && existsSync(path))
}

let scratch: string | undefined
/** One temp directory for every rival's config and files, removed when this process exits. */
function scratchDir(name: string): string {
  if (scratch === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-bench-'))
    chmodSync(dir, 0o755)
    scratch = dir
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  const dir = join(scratch, name)
  // nginx's workers run as nobody when started by root, and varnishd's child as varnish:
  // both must be able to enter their directory.
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  return dir
}

function fill(template: string, values: Readonly<Record<string, string>>): string {
  const text = readFileSync(join(BENCH_DIR, template), 'utf8')
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => values[key] ?? whole)
}

/** A rival server that answers, with the command that started it. */
export interface Rival {
  readonly child: Child
  readonly port: number
  readonly command: readonly string[]
}

/**
 * nginx with `proxy_cache` in front of `originPort`, every core (`worker_processes auto`).
 * With `accessLog`, nginx writes its default access log (combined format) to a file, as
 * edgecache writes its access lines when the bench compares the two with their defaults.
 *
 * @example
 * const nginx = await startNginx(bin, originPort, 20_000, true)
 */
export async function startNginx(
  bin: string,
  originPort: number,
  openFiles: number,
  accessLog: boolean,
): Promise<Rival> {
  const prefix = scratchDir('nginx')
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(
    conf,
    fill('nginx.conf.template', {
      PREFIX: prefix,
      PORT: String(port),
      ORIGIN_PORT: String(originPort),
      ACCESS_LOG: accessLog ? `access_log ${join(prefix, 'access.log')};` : 'access_log off;',
      // As root, nginx runs its workers as an unprivileged user; as anyone else it cannot switch.
      USER: process.getuid?.() === 0 ? 'user nobody nogroup;' : '# not root: workers run as the current user',
    }),
  )
  const args = ['-p', prefix, '-c', conf, '-g', 'daemon off;']
  const child = spawnTracked('nginx', bin, args, prefix, { openFiles })
  await waitForAnswer(`http://127.0.0.1:${port}/__counts`, child)
  return { child, port, command: [bin, ...args] }
}

/** varnishd in the foreground in front of `originPort`, 256 MiB of malloc storage. */
export async function startVarnish(bin: string, originPort: number, openFiles: number): Promise<Rival> {
  const dir = scratchDir('varnish')
  const port = await freePort()
  const vcl = join(dir, 'bench.vcl')
  writeFileSync(vcl, fill('varnish.vcl.template', { ORIGIN_PORT: String(originPort) }))
  const args = [
    '-F',
    '-a',
    `127.0.0.1:${port}`,
    '-f',
    vcl,
    '-s',
    'malloc,256m',
    '-n',
    join(dir, 'work'),
    // The listen backlog edgecache and nginx use here; Varnish's default is 1,024.
    '-p',
    'listen_depth=4096',
  ]
  const child = spawnTracked('varnish', bin, args, dir, { openFiles })
  await waitForAnswer(`http://127.0.0.1:${port}/__counts`, child)
  return { child, port, command: [bin, ...args] }
}

/** redis-server on a free port, no persistence; resolves once it answers PING. */
export async function startRedis(bin: string): Promise<Rival> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const child = spawnTracked('redis-server', bin, args, scratchDir('redis'))
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (!(await ping(port))) {
    if (child.hasExited() || Date.now() > deadline) {
      throw new Error(`redis-server: not answering PING on ${port}\n${child.stderr.join('\n')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { child, port, command: [bin, ...args] }
}

/** Polls `url` until it answers with any status, failing if `child` exits first. */
async function waitForAnswer(url: string, child: Child): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.hasExited()) {
      throw new Error(`${child.name}: exited (${await child.exited})\n${child.stderr.join('\n')}`)
    }
    if (
      await get(url).then(
        () => true,
        () => false,
      )
    )
      return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(
    `${child.name}: ${url} not answering within ${READY_TIMEOUT_MS} ms\n${child.stderr.join('\n')}`,
  )
}

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
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}
