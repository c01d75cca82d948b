/**
 * Starts edgecache in-process on ephemeral loopback ports, configured the way a user
 * configures it (env-style settings through loadConfig), for integration tests.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { type App, createApp } from '../../src/app.ts'
import type { Clock } from '../../src/clock.ts'
import { loadConfig } from '../../src/config/load.ts'
import { createLogger } from '../../src/observability/logger.ts'

export interface TestProxy {
  readonly app: App
  /** `http://127.0.0.1:<port>` of the proxy listener. */
  readonly url: string
  /** `http://127.0.0.1:<port>` of the admin listener. */
  readonly adminUrl: string
  /** JSON log lines written so far. */
  readonly logs: Record<string, unknown>[]
  close(): Promise<void>
}

export interface TestProxyOptions {
  readonly upstream: string
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
  const config = loadConfig({
    env: cacheDir === undefined ? env : { EDGECACHE_STORAGE__LOCAL__PATH: cacheDir, ...env },
    flags: { upstream: options.upstream, listen: '127.0.0.1:0', 'admin-listen': '127.0.0.1:0', workers: '1' },
  })
  const logs: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.length > 0) logs.push(JSON.parse(line))
      callback()
    },
  })
  const logger = createLogger({ level: 'info', destination })
  const app = await createApp(config, { logger, clock: options.clock })
  const { proxy, admin } = await app.listen()
  return {
    app,
    url: `http://127.0.0.1:${proxy.port}`,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    logs,
    async close() {
      await app.close()
      if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true })
    },
  }
}
