/**
 * The edgecache command: parses the command line, loads config, and runs `serve` (with
 * workers), `check-config`, `demo`, `purge` or `routes`. Exit codes: 0 ok, 1 invalid
 * config or routes, 2 usage error, 3 a listener could not bind.
 */
import cluster from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { App } from './app.ts'
import { formatUsage, parseArgs, type ParsedArgs } from './cli/args.ts'
import { checkConfigFile, loadConfig } from './config/load.ts'
import type { Config } from './config/schema.ts'
import { hasCode } from './errors.ts'
import { createLogger, createLogging } from './observability/logger.ts'
import type { SupervisorOptions } from './workers.ts'

// Each command imports what it runs when it runs: a worker supervisor that loaded the
// proxy's modules would hold their code in memory for nothing.

const NO_UPSTREAM =
  'edgecache: no upstream to proxy to; pass --upstream URL (or set EDGECACHE_UPSTREAM, or upstream.url in --config FILE), or try `edgecache demo`\n'

async function main(argv: readonly string[]): Promise<number> {
  let args: ParsedArgs
  try {
    args = parseArgs(argv)
  } catch (err) {
    return fail(err, 2)
  }
  if (args.help) {
    process.stdout.write(formatUsage(args.command))
    return 0
  }
  if (args.version) {
    process.stdout.write(`edgecache ${version()}\n`)
    return 0
  }
  switch (args.command) {
    case 'check-config':
      return checkConfig(args.positionals)
    case 'demo':
      // A demo's workers serve what the primary set up (see demo).
      return cluster.isWorker ? serve(args) : demo(args)
    case 'serve':
      return serve(args)
    case 'purge': {
      const { runPurge } = await import('./cli/purge.ts')
      return runPurge(args, process.env, process.stdout, process.stderr)
    }
    case 'routes': {
      const { runRoutes } = await import('./cli/routes.ts')
      return runRoutes(args, process.env, process.stdout, process.stderr)
    }
  }
}

async function checkConfig(positionals: readonly string[]): Promise<number> {
  const [file, ...extra] = positionals
  if (file === undefined || extra.length > 0) {
    process.stderr.write('usage: edgecache check-config FILE\n')
    return 2
  }
  const result = checkConfigFile(file)
  const [{ routeFileProblems }, { poolNamesOf }] = await Promise.all([
    import('./router/load.ts'),
    import('./upstream/pools.ts'),
  ])
  // The route file the config names is checked too, with the pools its routes name:
  // serving would refuse it just the same.
  const problems = result.ok
    ? routeFileProblems(result.config.routes, poolNamesOf(result.config))
    : result.problems
  if (result.ok) for (const warning of result.warnings) warn(warning)
  if (problems.length === 0) {
    process.stdout.write(`${file}: ok\n`)
    return 0
  }
  for (const problem of problems) process.stderr.write(`${problem}\n`)
  return 1
}

function load(args: ParsedArgs): Config | number {
  try {
    // Workers load the same config: the primary alone warns, so each warning shows once.
    return loadConfig({ flags: args.flags, ...(cluster.isPrimary && { onWarning: warn }) })
  } catch (err) {
    return fail(err, 1)
  }
}

async function serve(args: ParsedArgs): Promise<number> {
  const config = load(args)
  if (typeof config === 'number') return config
  if (config.upstream.url === undefined && Object.keys(config.upstreams).length === 0) {
    process.stderr.write(NO_UPSTREAM)
    return 2
  }
  if (cluster.isPrimary) {
    const claimed = await claimCacheDirectory(config)
    if (claimed !== 0) return claimed
  }
  if (config.workers > 1 && cluster.isPrimary) {
    const busy = await proxyPortBusy(config)
    if (busy !== 0) return busy
    // The primary's lines go where the workers' go; SIGUSR2 reopens its file too.
    let logging: ReturnType<typeof createLogging>
    try {
      logging = createLogging({ level: config.log.level, file: config.log.file })
    } catch (err) {
      return fail(err, 1)
    }
    const { logger, output } = logging
    process.on('SIGUSR2', () => output.reopen())
    const { superviseWorkers } = await import('./workers.ts')
    superviseWorkers(supervision(config), logger.child({ component: 'primary' }))
    return -1
  }
  const { createApp } = await import('./app.ts')
  // Workers of one instance share its name on the Redis bus (and its local store).
  const instance = cluster.isWorker
    ? process.env[(await import('./workers.ts')).INSTANCE_VARIABLE]
    : undefined
  let app: App
  try {
    // A reload loads the config again from the same file, environment and flags.
    app = await createApp(config, { instance, loadConfig: () => loadConfig({ flags: args.flags }) })
  } catch (err) {
    // Config the schema let through but a part refuses, or routes that do not load: the
    // user's to fix, said in a line each, not a stack.
    if (
      hasCode(err, 'EC_ERR_CONFIG_INVALID') ||
      hasCode(err, 'EC_ERR_ROUTES_FILE') ||
      hasCode(err, 'EC_ERR_ROUTES_INVALID')
    )
      return cannotStart(err)
    throw err
  }
  // Before listening: once "edgecache listening" is written, a supervisor may signal at
  // once, and a SIGHUP that arrived before its handler would end the process (its default).
  stopOnSignals(app)
  try {
    await app.listen()
  } catch (err) {
    if (!hasCode(err, 'EC_ERR_LISTEN')) throw err
    await cannotListen(err.message)
  }
  if (cluster.isWorker) {
    // The demo's primary waits for every worker to serve; the primary watches each from now.
    const { reportServing } = await import('./worker-liveness.ts')
    reportServing()
  }
  return -1
}

/** What the primary needs of the config to supervise the workers. */
function supervision(config: Config): SupervisorOptions {
  return {
    count: config.workers,
    stallTimeoutMs: config.server.workerStallTimeout,
    idleMemoryReleaseMs: config.server.idleMemoryRelease,
  }
}

/**
 * In the primary, before forking: workers listen on the proxy's ports with SO_REUSEPORT,
 * which would let them join another instance on the same port, so a port in use is refused
 * here, with the line a worker would print. 0 when the ports are free.
 */
async function proxyPortBusy(config: Config): Promise<number> {
  const { proxyPortInUse } = await import('./server/accept-policy.ts')
  const inUse = await proxyPortInUse(config)
  if (inUse === undefined) return 0
  process.stderr.write(`edgecache: ${inUse.message}\n`)
  const { EXIT_CANNOT_LISTEN } = await import('./workers.ts')
  return EXIT_CANNOT_LISTEN
}

/**
 * Ends the process when a listener cannot bind: serving without it helps nobody (no proxy,
 * or no /health for the supervisor). A worker tells the primary, which prints the one line
 * and stops every worker; one process prints it itself.
 */
async function cannotListen(message: string): Promise<never> {
  const { EXIT_CANNOT_LISTEN, reportFatal } = await import('./workers.ts')
  if (cluster.isWorker) await reportFatal(message, EXIT_CANNOT_LISTEN)
  else process.stderr.write(`edgecache: ${message}\n`)
  process.exit(EXIT_CANNOT_LISTEN)
}

/**
 * Ends the process when its config or routes do not load. A worker tells the primary,
 * which prints the lines once and stops every worker (another would meet the same), and
 * exits with a code the primary will not restart it for; one process prints them itself.
 */
async function cannotStart(err: unknown): Promise<number> {
  if (!cluster.isWorker) return fail(err, 1)
  const { EXIT_INVALID_CONFIG, WORKER_EXIT_INVALID_CONFIG, reportFatal } = await import('./workers.ts')
  await reportFatal(errorLines(err).join('\n'), EXIT_INVALID_CONFIG)
  process.exit(WORKER_EXIT_INVALID_CONFIG)
}

/**
 * The demo: an example backend in this process and the proxy in front of it, on loopback,
 * with its own empty cache and a generated admin token, so the status page's purge form
 * works at once. Workers (the default count, or `--workers`) serve as `serve` does: they
 * get the backend, cache directory and token through the environment.
 */
async function demo(args: ParsedArgs): Promise<number> {
  const { startDemoBackend } = await import('./cli/demo-backend.ts')
  const backend = await startDemoBackend()
  const flags = { 'log-level': 'warn', listen: '127.0.0.1:8000', ...args.flags, upstream: backend.url }
  let config = load({ ...args, flags })
  // The demo's cache is its own, empty at start and removed at the end, so its first
  // request is the miss the printed lines promise, whatever an earlier run stored.
  let scratch: string | undefined
  if (typeof config !== 'number' && config.storage.driver === 'local' && flags['cache-dir'] === undefined) {
    scratch = mkdtempSync(join(tmpdir(), 'edgecache-demo-'))
    flags['cache-dir'] = scratch
  }
  let token: string | undefined
  if (typeof config !== 'number' && config.admin.tokens.length === 0) {
    token = randomBytes(18).toString('base64url')
    process.env.EDGECACHE_ADMIN_TOKEN = token
  }
  if (typeof config !== 'number') config = load({ ...args, flags })
  const removeScratch = () => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
  }
  if (typeof config === 'number') {
    await backend.close()
    removeScratch()
    return config
  }
  const ready = (proxy: { host: string; port: number }, admin: { host: string; port: number }) =>
    process.stdout.write(demoText(urlOf(proxy), urlOf(admin), backend.url, token))

  if (config.workers > 1) {
    const claimed = await claimCacheDirectory(config)
    if (claimed !== 0) return claimed
    const busy = await proxyPortBusy(config)
    if (busy !== 0) {
      await backend.close()
      removeScratch()
      return busy
    }
    Object.assign(process.env, {
      EDGECACHE_UPSTREAM: backend.url,
      EDGECACHE_LOG__LEVEL: config.log.level,
      EDGECACHE_LISTEN: hostPort(config.listen),
      ...(scratch !== undefined && { EDGECACHE_STORAGE__LOCAL__PATH: scratch }),
    })
    process.on('exit', removeScratch)
    const log = createLogger({ level: config.log.level }).child({ component: 'primary' })
    const { superviseWorkers } = await import('./workers.ts')
    superviseWorkers(supervision(config), log)
    // Once every worker serves, say so. (node:cluster's 'listening' event does not do: a
    // worker listening with SO_REUSEPORT opens the proxy's socket itself, unseen by the primary.)
    const { isServingMessage } = await import('./worker-liveness.ts')
    let listening = 0
    const { listen, admin } = config
    const onMessage = (_worker: unknown, message: unknown) => {
      if (!isServingMessage(message)) return
      if (++listening === config.workers) {
        cluster.off('message', onMessage)
        ready(listen, admin.listen)
      }
    }
    cluster.on('message', onMessage)
    return -1
  }
  const { createApp } = await import('./app.ts')
  const app = await createApp(config)
  stopOnSignals(app, () => backend.close().then(removeScratch))
  const bound = await app.listen()
  ready(bound.proxy, bound.admin)
  return -1
}

function hostPort({ host, port }: { host: string; port: number }): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function urlOf(address: { host: string; port: number }): string {
  const host = address.host === '0.0.0.0' || address.host === '::' ? '127.0.0.1' : address.host
  return `http://${hostPort({ host, port: address.port })}`
}

function demoText(base: string, admin: string, backend: string, token: string | undefined): string {
  return [
    `edgecache demo: proxy on ${base}, example backend on ${backend}`,
    `status page: ${admin}/status${token === undefined ? '' : ` (admin token for its purge form: ${token})`}`,
    '',
    'try these (run the first twice: a miss, then a hit):',
    `  curl -si ${base}/cacheable | grep -i -e cache-status -e age:`,
    `  curl -si ${base}/uncacheable | grep -i cache-status`,
    `  curl -si -H 'Accept-Language: fr' ${base}/varied | grep -i cache-status`,
    `  curl -si ${base}/slow | grep -i cache-status`,
    `  curl -si ${base}/revalidate | grep -i cache-status`,
    ...(token === undefined
      ? []
      : [
          'and purge everything (or use the purge form on the status page):',
          `  curl -s -X POST -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '{"all":true}' ${admin}/invalidate`,
        ]),
    '',
    'Ctrl-C stops the demo.',
    '',
  ].join('\n')
}

/**
 * Holds the local store's cache directory for this instance until the process exits, and
 * sets aside a store in it that is not usable; 1 (and a message naming the directory and
 * the holder) when another instance holds it.
 */
async function claimCacheDirectory(config: Config): Promise<number> {
  if (config.storage.driver !== 'local' && config.storage.driver !== 'tiered') return 0
  const { claimDirectory, prepareLocalStore } = await import('./storage/local-directory.ts')
  try {
    const claim = claimDirectory(config.storage.local.path)
    process.on('exit', () => claim.release())
  } catch (err) {
    return fail(err, 1)
  }
  // Once, before any worker opens it: workers must not race to set a store aside.
  const log = createLogger({ level: config.log.level }).child({ component: 'storage.local' })
  await prepareLocalStore(config.storage.local.path, log)
  return 0
}

function stopOnSignals(app: App, after?: () => Promise<void>): void {
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    app
      .close()
      .then(after)
      .then(
        () => process.exit(0),
        (err: unknown) => {
          app.logger.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  // SIGHUP reloads the config and the route file in every worker; whatever is invalid is
  // logged and what is in force stays. (With workers the primary takes the signal.)
  process.on('SIGHUP', () => void app.reload('config', 'signal'))
  // SIGUSR2 reopens the log file, for logrotate (Node keeps SIGUSR1 for its inspector).
  process.on('SIGUSR2', () => app.reopenLogs())
}

function warn(message: string): void {
  process.stderr.write(`edgecache: warning: ${message}\n`)
}

function fail(err: unknown, code: number): number {
  for (const line of errorLines(err)) process.stderr.write(`edgecache: ${line}\n`)
  return code
}

/** What an error says to the user: each of its problems, else its message. */
function errorLines(err: unknown): readonly string[] {
  const problems = (err as { problems?: readonly string[] }).problems
  return problems ?? [err instanceof Error ? err.message : String(err)]
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a server is running; the process ends on a signal.
    if (code >= 0) process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`edgecache: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
