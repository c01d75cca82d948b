/**
 * The `upstreams:` block of the config schema: named pools of backend servers, each with
 * its balancing, health checks, retries, limits, timeouts, Host and TLS settings. Only
 * describes; src/upstream/pools.ts builds the pools. A route picks a pool by name.
 */
import { z } from 'zod'
import {
  boolean,
  duration,
  type FieldMeta,
  fieldMeta,
  filePath,
  fraction,
  hostHeader,
  integer,
  name,
  oneOf,
  optionalDuration,
  optionalInteger,
  requestPath,
  show,
  statusList,
} from './fields.ts'

/** Pool names: what a route's `upstream:` names, and the `upstream` label in metrics. */
export const poolNamePattern = /^[A-Za-z0-9_.-]{1,64}$/

/** The pool `upstream.url` makes; a pool in `upstreams:` may not take its name. */
export const defaultPoolName = 'default'

/** How a pool spreads requests over its servers. */
export const balanceModes = ['round-robin', 'least-connections', 'hash'] as const

const hashPattern = /^(?:key|client|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/

/** One server of a pool. */
const serverSchema = z.strictObject({
  url: z.unknown().transform((input, ctx): string => {
    const url = typeof input === 'string' && URL.canParse(input) ? new URL(input) : undefined
    const bare = url !== undefined && url.pathname === '/' && url.search === '' && url.hash === ''
    if (
      url === undefined ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.host === '' ||
      url.port === '0' ||
      !bare ||
      url.username !== '' ||
      url.password !== ''
    ) {
      ctx.addIssue({
        code: 'custom',
        message: `expected an http:// or https:// origin (a port from 1) without path or credentials, got ${show(input)}`,
        input,
      })
      return z.NEVER
    }
    return url.origin
  }),
  weight: z
    .unknown()
    .transform((input, ctx): number => {
      if (Number.isSafeInteger(input) && (input as number) >= 1 && (input as number) <= 1000)
        return input as number
      ctx.addIssue({
        code: 'custom',
        message: `expected an integer from 1 to 1000, got ${show(input)}`,
        input,
      })
      return z.NEVER
    })
    .prefault(1),
  backup: z
    .unknown()
    .transform((input, ctx): boolean => {
      if (typeof input === 'boolean') return input
      ctx.addIssue({ code: 'custom', message: `expected true or false, got ${show(input)}`, input })
      return z.NEVER
    })
    .prefault(false),
})

const serversMeta: FieldMeta = {
  kind: 'list',
  doc: 'the servers: `{ url, weight, backup }` each; url an http:// or https:// origin, weight 1..1000 (default 1), backup true to use it only when no other server is available',
  type: 'list of servers',
}

const healthSchema = z
  .strictObject({
    path: requestPath(
      'active check: GET this path, healthy on a 2xx or 3xx; unset checks that a TCP connection opens',
    ),
    interval: duration('time between active checks of each server; 0s turns them off', '5s'),
    timeout: duration('an active check not answered within this long fails', '2s'),
    unhealthyAfter: integer('failed checks in a row that mark a server down', 2, 1),
    healthyAfter: integer('passed checks in a row that mark a down server up again', 2, 1),
  })
  .prefault({})

const passiveSchema = z
  .strictObject({
    failures: integer(
      'requests in a row that fail to connect, are reset or time out before an ejection; 0 turns passive checks off',
      3,
      0,
    ),
    ejectFor: duration('how long a server is ejected the first time; doubled each time in a row', '10s'),
    maxEjectFor: duration('the longest ejection', '5m'),
  })
  .prefault({})

const retrySchema = z
  .strictObject({
    attempts: integer('most tries of one request, the first included; 1 turns retries off', 2, 1),
    on: statusList('answers that make an idempotent request try another server', [502, 503, 504]),
    budget: fraction('retries allowed as a share of the requests of the last 10 s (0.2: 20% extra)', 0.2),
    minPerSecond: integer('retries allowed each second whatever the budget, so a quiet pool can retry', 3, 0),
  })
  .prefault({})

const tlsSchema = z
  .strictObject({
    ca: filePath('PEM file of CA certificates trusted for https:// servers besides the system ones'),
    servername: name('TLS server name (SNI) and the name the certificate must carry; unset: the URL host'),
    verify: boolean('check the server certificate; false only for tests', true),
    cert: filePath('PEM client certificate shown to servers that ask for one (mTLS); needs tls.key'),
    key: filePath('PEM private key of tls.cert'),
  })
  .superRefine((tls, ctx) => {
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [tls.cert === undefined ? 'cert' : 'key'],
        message: 'expected tls.cert and tls.key together, got one of them',
      })
    }
  })
  .prefault({})

/** One named pool. */
export const poolSchema = z
  .strictObject({
    servers: z.array(serverSchema).register(fieldMeta, serversMeta),
    balance: oneOf(
      'how requests are spread: weighted round robin, fewest requests in flight per weight, or a hash',
      balanceModes,
      'round-robin',
    ),
    hash: z
      .unknown()
      .transform((input, ctx): string => {
        if (typeof input === 'string' && hashPattern.test(input)) return input.toLowerCase()
        ctx.addIssue({
          code: 'custom',
          message: `expected key, client or header:NAME, got ${show(input)}`,
          input,
        })
        return z.NEVER
      })
      .prefault('key')
      .register(fieldMeta, {
        kind: 'text',
        doc: 'with balance: hash, what is hashed: the cache key, the client address, or a request header',
        type: 'key | client | header:NAME',
        defaultText: 'key',
      }),
    host: hostHeader('Host header sent to the servers in place of the client’s'),
    connections: optionalInteger('most connections to each server; unset: upstream.connections', 1),
    queue: integer(
      'most requests of the pool waiting for a connection; past it, 503 at once (stale if allowed)',
      1000,
      0,
    ),
    connectTimeout: optionalDuration('unset: upstream.connectTimeout'),
    headersTimeout: optionalDuration('unset: upstream.headersTimeout'),
    bodyTimeout: optionalDuration('unset: upstream.bodyTimeout'),
    keepAliveTimeout: optionalDuration('unset: upstream.keepAliveTimeout'),
    health: healthSchema,
    passive: passiveSchema,
    retry: retrySchema,
    tls: tlsSchema,
  })
  .superRefine((pool, ctx) => {
    if (pool.servers.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['servers'], message: 'expected at least one server, got none' })
    } else if (pool.servers.every((server) => server.backup)) {
      ctx.addIssue({
        code: 'custom',
        path: ['servers'],
        message: 'expected at least one server that is not a backup, got only backups',
      })
    }
    const seen = new Set<string>()
    for (const [index, server] of pool.servers.entries()) {
      if (seen.has(server.url)) {
        ctx.addIssue({
          code: 'custom',
          path: ['servers', index, 'url'],
          message: `${server.url} is listed twice`,
        })
      }
      seen.add(server.url)
    }
    if (pool.hash !== 'key' && pool.balance !== 'hash') {
      ctx.addIssue({ code: 'custom', path: ['hash'], message: 'is used only with balance: hash' })
    }
    if (pool.passive.maxEjectFor < pool.passive.ejectFor) {
      ctx.addIssue({
        code: 'custom',
        path: ['passive', 'maxEjectFor'],
        message: `must not be less than ejectFor (${pool.passive.ejectFor}ms), got ${pool.passive.maxEjectFor}ms`,
      })
    }
  })

/** `upstreams:`: pool name → pool. */
export const upstreamsSchema = z
  .record(z.string(), poolSchema)
  .superRefine((pools, ctx) => {
    for (const name of Object.keys(pools)) {
      if (!poolNamePattern.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'expected a pool name of letters, digits, "_", "." and "-" (at most 64)',
        })
      }
    }
  })
  .prefault({})

/** One server of a pool, as validated. */
export interface PoolServerConfig {
  /** The origin, normalised (`http://host:port`). */
  readonly url: string
  readonly weight: number
  readonly backup: boolean
}

/** One pool, as validated; durations in ms. */
export interface PoolConfig {
  readonly servers: readonly PoolServerConfig[]
  readonly balance: (typeof balanceModes)[number]
  /** `key`, `client` or `header:name` (lowercase). */
  readonly hash: string
  readonly host?: string | undefined
  readonly connections?: number | undefined
  readonly queue: number
  readonly connectTimeout?: number | undefined
  readonly headersTimeout?: number | undefined
  readonly bodyTimeout?: number | undefined
  readonly keepAliveTimeout?: number | undefined
  readonly health: {
    readonly path?: string | undefined
    readonly interval: number
    readonly timeout: number
    readonly unhealthyAfter: number
    readonly healthyAfter: number
  }
  readonly passive: { readonly failures: number; readonly ejectFor: number; readonly maxEjectFor: number }
  readonly retry: {
    readonly attempts: number
    readonly on: readonly number[]
    readonly budget: number
    readonly minPerSecond: number
  }
  readonly tls: {
    readonly ca?: string | undefined
    readonly servername?: string | undefined
    readonly verify: boolean
    /** Set exactly when `key` is. */
    readonly cert?: string | undefined
    readonly key?: string | undefined
  }
}
