/**
 * Starts edgecache in-process on ephemeral loopback ports, configured the way a user
 * configures it (env-style settings through loadConfig), for integration tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Writable } from 'node:stream'
import { type App, createApp } from '../../src/app.ts'
import type { Clock } from '../../src/clock.ts'
import { loadConfig } from '../../src/config/load.ts'
import { createLogging } from '../../src/observability/logger.ts'

export interface TestProxy {
  readonly app: App
  /** `http://127.0.0.1:<port>` of the proxy listener. */
  readonly url: string
  /** `http://127.0.0.1:<port>` of the admin listener. */
  readonly adminUrl: string
  /** The TLS listener's port, when the config gives it a certificate. */
  readonly tlsPort: number | undefined
  /** The cleartext HTTP/2 listener's port, when `http2.cleartextListen` is set. */
  readonly h2cPort: number | undefined
  /** JSON log lines written so far. */
  readonly logs: Record<string, unknown>[]
  /** Every log line written so far, as text (combined access lines are not JSON). */
  readonly lines: string[]
  close(): Promise<void>
}

export interface TestProxyOptions {
  /** `--upstream`: the default pool; may be left out when `config` has `upstreams`. */
  readonly upstream?: string
  /** A config file's content (written as JSON), for what env cannot say (`upstreams:`). */
  readonly config?: Record<string, unknown>
  /** Extra settings as EDGECACHE_* variables, e.g. `{ EDGECACHE_CACHE__COLLAPSE_TIMEOUT: '5s' }`. */
  readonly env?: Record<string, string>
  readonly clock?: Clock
}

/**
 * Starts the proxy with the default store (local) in a cache directory of its own, removed
 * on close, unless `env` says otherwise.
 */
export async function startProxy(options: TestProxyOptions): Promise<TestProxy> {
  const env = options.env ?? {}
  const driver = env.EDGECACHE_STORAGE__DRIVER ?? 'local'
  const hasDirectory = driver === 'local' || driver === 'tiered'
  const cacheDir =
    hasDirectory && env.EDGECACHE_STORAGE__LOCAL__PATH === undefined
      ? mkdtempSync(join(tmpdir(), 'edgecache-proxy-'))
      : undefined
  let configFile: string | undefined
  if (options.config !== undefined) {
    configFile = join(mkdtempSync(join(tmpdir(), 'edgecache-config-')), 'edgecache.json')
    writeFileSync(configFile, JSON.stringify(options.config))
  }
  // Read again at each reload: a test changes `env` (the same object) and reloads.
  const load = () =>
    loadConfig({
      env: cacheDir === undefined ? env : { EDGECACHE_STORAGE__LOCAL__PATH: cacheDir, ...env },
      flags,
    })
  const flags = {
    ...(options.upstream === undefined ? {} : { upstream: options.upstream }),
    ...(configFile === undefined ? {} : { config: configFile }),
    listen: '127.0.0.1:0',
    'admin-listen': '127.0.0.1:0',
    // Only opened when the config gives the TLS listener a certificate.
    'tls-listen': '127.0.0.1:0',
    workers: '1',
  }
  const config = load()
  const removeFiles = () => {
    if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true })
    if (configFile !== undefined) rmSync(dirname(configFile), { recursive: true, force: true })
  }
  const logs: Record<string, unknown>[] = []
  const lines: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line.length === 0) continue
        lines.push(line)
        if (line.startsWith('{')) logs.push(JSON.parse(line))
      }
      callback()
    },
  })
  const logging = createLogging({ level: 'info', destination })
  let app: App
  try {
    app = await createApp(config, { logging, clock: options.clock, loadConfig: load })
  } catch (err) {
    removeFiles()
    throw err
  }
  const { proxy, admin, tls, h2c } = await app.listen()
  return {
    app,
    url: `http://127.0.0.1:${proxy.port}`,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    tlsPort: tls?.port,
    h2cPort: h2c?.port,
    logs,
    lines,
    async close() {
      await app.close()
      removeFiles()
    },
  }
}
