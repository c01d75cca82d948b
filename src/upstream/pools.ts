/**
 * Every pool of the instance, built from its config: the pool `upstream.url` makes (named
 * `default`, one server, the `upstream.*` settings) and each pool of `upstreams:`. Starts
 * their active health checks, finds a pool by the name a route gives, and reports every
 * server for /ready, the status page and metrics.
 */
import { readFileSync } from 'node:fs'
import type { Clock } from '../clock.ts'
import type { PoolConfig, UpstreamConfig } from '../config/schema.ts'
import { defaultPoolName } from '../config/upstreams.ts'
import { EdgecacheError } from '../errors.ts'
import type { RequestContext } from '../pipeline/context.ts'
import type { Forwarding } from './forwarding.ts'
import { type HealthChecker, startHealthChecks } from './health-checker.ts'
import { createPool, type ServerReport, type UpstreamPool } from './pool.ts'
import { createUpstream, type UpstreamTls } from './upstream.ts'

export interface PoolsOptions {
  /** `upstream.*`: the default pool when `url` is set, and the defaults of every pool. */
  readonly upstream: UpstreamConfig
  readonly upstreams: Readonly<Record<string, PoolConfig>>
  /** The header rules, given the Host a pool sends (undefined: the client's). */
  forwarding(hostOverride: string | undefined): Forwarding
  /** The cache key of a request, for `balance: hash` with `hash: key`. */
  cacheKey(ctx: RequestContext): string
  /** The client's address (through trusted proxies), for `hash: client`. */
  clientAddress(ctx: RequestContext): string
  readonly clock: Clock
  /**
   * The default pool's header and body timeouts in force now (`upstream.headersTimeout`,
   * `upstream.bodyTimeout`), so a reload changes them. Named pools keep theirs until a restart.
   */
  liveTimeouts?(): { readonly headersMs: number; readonly bodyMs: number }
  /** Told once each time a server of a pool becomes unavailable or available again. */
  onChange?(pool: string, server: string, available: boolean, error: string | undefined): void
}

/** A pool as /ready and the status page show it. */
export interface PoolReport {
  readonly name: string
  /** The first server's URL, for a one-line view. */
  readonly url: string
  /** At least one server may be sent requests. */
  readonly healthy: boolean
  readonly lastCheck: string | null
  readonly lastError: string | null
  readonly inFlight: number
  readonly servers: readonly ServerReport[]
}

export interface Pools {
  /** The pool a route names; undefined names the default pool. Undefined when there is none. */
  get(name: string | undefined): UpstreamPool | undefined
  /** Names of every pool, the default one included when there is one. */
  readonly names: ReadonlySet<string>
  /** True when routes without `upstream:` have a pool to go to. */
  readonly hasDefault: boolean
  report(): readonly PoolReport[]
  /** Every pool has a server it may send requests to. */
  isReady(): boolean
  close(): Promise<void>
}

/** The names routes may give: for validating a route file against the config. */
export function poolNamesOf(config: {
  readonly upstream: { readonly url?: string | undefined }
  readonly upstreams: Readonly<Record<string, unknown>>
}): { readonly names: ReadonlySet<string>; readonly hasDefault: boolean } {
  const names = new Set(Object.keys(config.upstreams))
  const hasDefault = config.upstream.url !== undefined || names.has(defaultPoolName)
  if (config.upstream.url !== undefined) names.add(defaultPoolName)
  return { names, hasDefault }
}

/**
 * @example
 * const pools = createPools({ upstream: config.upstream, upstreams: config.upstreams, forwarding,
 *   cacheKey, clientAddress, clock })
 * const answer = await pools.get(route.upstream)!.send(ctx)
 */
export function createPools(options: PoolsOptions): Pools {
  const { upstream, clock } = options
  const pools = new Map<string, UpstreamPool>()
  const checkers: HealthChecker[] = []

  if (upstream.url !== undefined) {
    const server = createUpstream({
      url: upstream.url,
      connections: upstream.connections,
      connectTimeoutMs: upstream.connectTimeout,
      headersTimeoutMs: upstream.headersTimeout,
      bodyTimeoutMs: upstream.bodyTimeout,
      keepAliveTimeoutMs: upstream.keepAliveTimeout,
      ...(options.liveTimeouts && { timeouts: options.liveTimeouts }),
      forwarding: options.forwarding(upstream.host),
      name: defaultPoolName,
      ...(upstream.url.startsWith('https:') ? { tls: readTls('upstream.tls', upstream.tls) } : {}),
    })
    const pool = createPool({
      name: defaultPoolName,
      servers: [{ url: new URL(upstream.url).origin, weight: 1, backup: false, upstream: server }],
      balance: 'round-robin',
      hashKey: () => '',
      connections: upstream.connections,
      queue: upstream.queue,
      // As before pools: a refused connection or a failed check marks it down for /ready at
      // once, any answer marks it up; requests keep going to it, there being no other.
      health: { unhealthyAfter: 1, healthyAfter: 1, failures: 1, ejectForMs: 10_000, maxEjectForMs: 300_000 },
      retry: { attempts: 1, on: [], budget: 0, minPerSecond: 0 },
      routeAroundDown: false,
      clock,
      onChange: (server, available, error) => options.onChange?.(defaultPoolName, server, available, error),
    })
    pools.set(defaultPoolName, pool)
    checkers.push(
      startHealthChecks({
        servers: [{ url: new URL(upstream.url).origin, probe: server.probe }],
        path: undefined,
        host: undefined,
        intervalMs: upstream.healthCheckInterval,
        timeoutMs: upstream.connectTimeout,
        record: (url, ok, error) => pool.recordCheck(url, ok, error),
      }),
    )
  }

  for (const [name, config] of Object.entries(options.upstreams)) {
    const tls = readTls(`upstreams.${name}.tls`, config.tls)
    const forwarding = options.forwarding(config.host)
    const connections = config.connections ?? upstream.connections
    const servers = config.servers.map((server) => ({
      url: server.url,
      weight: server.weight,
      backup: server.backup,
      upstream: createUpstream({
        url: server.url,
        connections,
        connectTimeoutMs: config.connectTimeout ?? upstream.connectTimeout,
        headersTimeoutMs: config.headersTimeout ?? upstream.headersTimeout,
        bodyTimeoutMs: config.bodyTimeout ?? upstream.bodyTimeout,
        keepAliveTimeoutMs: config.keepAliveTimeout ?? upstream.keepAliveTimeout,
        forwarding,
        name,
        server: server.url,
        ...(server.url.startsWith('https:') ? { tls } : {}),
      }),
    }))
    const pool = createPool({
      name,
      servers,
      balance: config.balance,
      hashKey: hashKeyOf(config.hash, options),
      connections,
      queue: config.queue,
      health: {
        unhealthyAfter: config.health.unhealthyAfter,
        healthyAfter: config.health.healthyAfter,
        failures: config.passive.failures,
        ejectForMs: config.passive.ejectFor,
        maxEjectForMs: config.passive.maxEjectFor,
      },
      retry: config.retry,
      clock,
      onChange: (server, available, error) => options.onChange?.(name, server, available, error),
    })
    pools.set(name, pool)
    checkers.push(
      startHealthChecks({
        servers: servers.map((s) => ({ url: s.url, probe: s.upstream.probe })),
        path: config.health.path,
        host: config.host,
        intervalMs: config.health.interval,
        timeoutMs: config.health.timeout,
        record: (url, ok, error) => pool.recordCheck(url, ok, error),
      }),
    )
  }

  const { names, hasDefault } = poolNamesOf(options)
  return {
    get: (name) => pools.get(name ?? defaultPoolName),
    names,
    hasDefault,
    report() {
      return [...pools.values()].map((pool) => {
        const servers = pool.servers()
        // The most recent news of any server, for the one-line view.
        const latest = servers.reduce<ServerReport | undefined>(
          (best, s) =>
            s.lastCheck !== undefined && (best?.lastCheck === undefined || s.lastCheck > best.lastCheck)
              ? s
              : best,
          undefined,
        )
        return {
          name: pool.name,
          url: servers[0]?.url ?? '',
          healthy: pool.isAvailable(),
          lastCheck: latest?.lastCheck === undefined ? null : new Date(latest.lastCheck).toISOString(),
          lastError: servers.find((s) => !s.available)?.lastError ?? latest?.lastError ?? null,
          inFlight: pool.inFlight(),
          servers,
        }
      })
    },
    isReady: () => [...pools.values()].every((pool) => pool.isAvailable()),
    async close() {
      for (const checker of checkers) checker.close()
      await Promise.all([...pools.values()].map((pool) => pool.close()))
    },
  }
}

function hashKeyOf(hash: string, options: PoolsOptions): (ctx: RequestContext) => string {
  if (hash === 'client') return options.clientAddress
  if (hash.startsWith('header:')) {
    const field = hash.slice('header:'.length)
    return (ctx) => {
      const value = ctx.headers[field]
      return value === undefined ? '' : typeof value === 'string' ? value : value.join(', ')
    }
  }
  return options.cacheKey
}

/** A pool's TLS settings with its PEM files read; a file that cannot be read names its field. */
function readTls(
  field: string,
  tls: {
    readonly ca?: string | undefined
    readonly cert?: string | undefined
    readonly key?: string | undefined
    readonly servername?: string | undefined
    readonly verify?: boolean
  },
): UpstreamTls {
  return {
    ca: readPem(`${field}.ca`, tls.ca),
    cert: readPem(`${field}.cert`, tls.cert),
    key: readPem(`${field}.key`, tls.key),
    servername: tls.servername,
    verify: tls.verify ?? true,
  }
}

/** A PEM file's text; the message never quotes it, as it may hold a key. */
function readPem(field: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new EdgecacheError('EC_ERR_CONFIG_INVALID', [
      `${field}: cannot read ${path}: ${(err as Error).message}`,
    ])
  }
  if (!text.includes('-----BEGIN ')) {
    throw new EdgecacheError('EC_ERR_CONFIG_INVALID', [
      `${field}: expected a PEM file (-----BEGIN ...), got ${path}`,
    ])
  }
  return text
}
