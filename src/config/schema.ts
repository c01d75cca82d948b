/**
 * The config schema: the one place each field's type, default, validation and doc line
 * are defined. docs/config.md, the EDGECACHE_* env names and the `Config` type all come
 * from here. It only describes; reading files, env and flags is load.ts's job.
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import {
  boolean,
  computedInteger,
  discriminator,
  directoryPath,
  duration,
  type FieldMeta,
  fieldMeta,
  fieldName,
  filePath,
  fraction,
  headerList,
  methodList,
  keyPrefix,
  hostHeader,
  originUrl,
  integer,
  integerIn,
  ipList,
  type ListenAddress,
  listen,
  mediaTypeList,
  name,
  oneOf,
  oneOfList,
  redisUrl,
  redisUrlList,
  secretText,
  size,
  token,
  tokenList,
} from './fields.ts'

import { defaultProxyOnlyFields } from '../upstream/forwarding.ts'
import { defaultPoolName, type PoolConfig, upstreamsSchema } from './upstreams.ts'
import { type Http2Config, http2Schema, type TlsConfig, tlsSchema } from './tls.ts'

export type { ListenAddress } from './fields.ts'
export type { PoolConfig } from './upstreams.ts'
export type { CertificateFiles, Http2Config, TlsConfig } from './tls.ts'

/** Log levels, quietest last. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Access line formats: JSON, or the NCSA combined log format. */
export const accessFormats = ['json', 'combined'] as const

/** Where rate limit buckets are kept (`rateLimit.shared`). */
export const rateLimitSharing = ['auto', 'host', 'redis'] as const

const upstreamSchema = z.strictObject({
  url: originUrl('the origin to proxy to, without a path; required to serve'),
  host: hostHeader('Host header sent upstream in place of the one the client sent'),
  connections: integer('keep-alive connections in the upstream pool', 128, 1),
  connectTimeout: duration('give up connecting to the upstream after this long', '5s', 'positive'),
  headersTimeout: duration(
    'give up waiting for upstream response headers after this long; 0s waits without limit',
    '30s',
  ),
  bodyTimeout: duration('give up when the upstream body pauses for this long; 0s waits without limit', '30s'),
  keepAliveTimeout: duration('close idle upstream connections after this long', '4s', 'positive'),
  healthCheckInterval: duration('time between TCP checks of the backend for /ready; 0s turns them off', '5s'),
  queue: integer(
    'most requests waiting for a connection to the upstream; past it, 503 at once (stale if allowed)',
    1000,
    0,
  ),
  tls: z
    .strictObject({
      ca: filePath(
        'PEM file of CA certificates trusted for an https:// upstream.url besides the system ones',
      ),
      cert: filePath(
        'PEM client certificate shown to an https:// upstream.url that asks for one (mTLS); needs upstream.tls.key',
      ),
      key: filePath('PEM private key of upstream.tls.cert'),
    })
    .superRefine((tls, ctx) => {
      if ((tls.cert === undefined) !== (tls.key === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: [tls.cert === undefined ? 'cert' : 'key'],
          message: 'expected upstream.tls.cert and upstream.tls.key together, got one of them',
        })
      }
    })
    .prefault({}),
})

const purgeMethodSchema = z
  .strictObject({
    enabled: boolean('answer `PURGE <url>` on the proxy listener by hard-purging that URL', false),
    allow: ipList('client IPs or CIDRs allowed to send PURGE; others get 403', []),
  })
  .superRefine((purge, ctx) => {
    // Enabled with nobody allowed is a PURGE that can only ever answer 403: surely a mistake.
    if (purge.enabled && purge.allow.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allow'],
        message: 'must list at least one IP or CIDR when server.purgeMethod.enabled is true',
      })
    }
  })

const upgradesSchema = z.strictObject({
  enabled: boolean(
    'tunnel Upgrade requests (WebSockets) to the backend; off, they are answered as plain requests',
    true,
  ),
  idleTimeout: duration('cut a tunnel after this long without a byte either way', '5m', 'positive'),
  maxTunnels: integer('most tunnels open (or being opened) at once in each worker; past it, 503', 1000, 1),
})

const proxyProtocolSchema = z
  .strictObject({
    enabled: boolean(
      'read a PROXY protocol header (v1 or v2) ahead of each connection from server.proxyProtocol.allow; its client is the peer',
      false,
    ),
    allow: ipList(
      'IPs or CIDRs that must send the header (load balancers); a header from any other address closes the connection',
      [],
    ),
  })
  .superRefine((proxy, ctx) => {
    // Enabled with no sender would only ever close connections that carry a header.
    if (proxy.enabled && proxy.allow.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allow'],
        message: 'must list at least one IP or CIDR when server.proxyProtocol.enabled is true',
      })
    }
  })

const serverSchema = z
  .strictObject({
    maxHeaderBytes: size('largest request head accepted (431 above it)', '16KiB', 1),
    maxHeaderCount: integer('most request header fields accepted (431 above it)', 100, 1),
    maxUriBytes: size('longest request target accepted (414 above it)', '8KiB', 1),
    maxBodyBytes: size('largest request body accepted (413 above it)', '10MiB'),
    requestBuffering: size(
      'request body read before an upstream connection is taken, so slow uploads hold none: a body this size or less goes upstream whole with Content-Length (a chunked one too), a longer one streams; 0 streams every body',
      '1MiB',
    ),
    headersTimeout: duration('request headers must arrive within this long (408)', '10s', 'positive'),
    requestTimeout: duration('the whole request must arrive within this long (408); 0s = no limit', '60s'),
    keepAliveTimeout: duration('close idle client connections after this long', '5s'),
    shutdownTimeout: duration('on shutdown, wait this long for requests in flight', '10s'),
    maxConnections: integer('most client connections at once; 0 = unlimited', 0, 0),
    backlog: integer('listen backlog: connections queued before accept', 4096, 1),
    workerStallTimeout: duration(
      'with workers, one whose event loop has not answered the primary for this long is killed and started again (its connections are cut; new ones stop waiting for it); 0s = never',
      '30s',
    ),
    idleMemoryRelease: duration(
      'windows of this length: after start, and after one in which a process finished more than one request a second, the first with one a second or fewer runs one full garbage collection and a trim of the C heap (glibc), giving back to the system the memory start-up or the busy spell made the process take; 0s = never',
      '10s',
    ),
    reusePort: boolean(
      'with workers on Linux, each listens on the proxy ports with a socket of its own (SO_REUSEPORT) and the kernel spreads new connections evenly over them; false: one shared socket, from which a stalled worker takes no new connection',
      true,
    ),
    trustedProxies: ipList('IPs or CIDRs whose X-Forwarded-* headers are kept', []),
    stripRequestHeaders: headerList('request headers removed before anything else sees them', [
      'x-http-method-override',
      'x-original-url',
      'x-rewrite-url',
    ]),
    proxyOnlyHeaders: headerList(
      'request headers an origin may read as host, scheme, port or prefix: kept from trustedProxies, removed from other clients',
      defaultProxyOnlyFields,
    ),
    methods: methodList(
      'request methods forwarded, or * for any but TRACE and CONNECT (PURGE and BAN never are); others get 405',
      ['*'],
    ),
    purgeMethod: purgeMethodSchema.prefault({}),
    upgrades: upgradesSchema.prefault({}),
    proxyProtocol: proxyProtocolSchema.prefault({}),
  })
  .superRefine((server, ctx) => {
    // Node refuses a server whose headersTimeout exceeds a non-zero requestTimeout.
    if (server.requestTimeout !== 0 && server.headersTimeout > server.requestTimeout) {
      ctx.addIssue({
        code: 'custom',
        path: ['headersTimeout'],
        message: `must not exceed server.requestTimeout (${server.requestTimeout}ms), got ${server.headersTimeout}ms`,
      })
    }
  })

const cacheSchema = z.strictObject({
  name: token('name of this cache in Cache-Status (RFC 9211)', 'edgecache'),
  heuristicFraction: fraction('heuristic freshness as a fraction of the time since Last-Modified', 0.1),
  maxHeuristicTtl: duration('cap on heuristic freshness', '1d', 'zero', 'any'),
  targetedField: fieldName(
    'RFC 9213 targeted Cache-Control field this cache obeys, before CDN-Cache-Control; consumed (not passed on)',
    'edgecache-cache-control',
  ),
  requestDirectives: oneOf(
    "a client's Cache-Control and Pragma (no-cache, max-age, min-fresh, max-stale): honour, or ignore all but only-if-cached and no-store; per route too",
    ['honour', 'ignore'],
    'ignore',
  ),
  refreshFrom: ipList(
    'clients (IPs or CIDRs) whose no-cache and max-age count even when requestDirectives is ignore',
    [],
  ),
  stripCdnCacheControl: boolean(
    'remove CDN-Cache-Control from answers; by default it is passed on for a CDN in front to act on',
    false,
  ),
  collapseTimeout: duration('how long requests for the same key wait for one upstream fetch', '30s'),
  staleIfDisconnected: duration(
    'how long past its freshness a stored response may stand in when the origin cannot be reached (refused, reset, timed out), unless it forbids stale use; per route too; 0 turns it off',
    '1h',
    'zero',
    'any',
  ),
  refreshInterval: duration(
    'least time between background refreshes (stale-while-revalidate) of a response that arrived stale, counted from its arrival on any worker or host; one that was fresh is refreshed at once; 0s refreshes at every stale answer',
    '1s',
    'zero',
    'any',
  ),
  fillMemory: size(
    'bytes the fills in progress of one process may hold; a fill past it stops storing and streams at its slowest reader',
    '128MiB',
    1,
  ),
  keep: duration(
    'how long a stale response with a validator is kept to revalidate it with the origin',
    '10m',
    'zero',
    'any',
  ),
  rangeRequests: oneOf(
    'a Range request that misses: whole fetches and stores the whole response; parts forwards the range and keeps the 206 as a part, combined with others of the same strong validator (docs/partial-content.md); per route too',
    ['whole', 'parts'],
    'whole',
  ),
})

/**
 * Media types compressed by default: text, and text by another name. Not text/* as a whole:
 * text/event-stream is read as it arrives, and a compressor holds bytes back.
 */
const compressibleTypes = [
  'text/html',
  'text/css',
  'text/plain',
  'text/javascript',
  'text/xml',
  'text/csv',
  'text/markdown',
  'application/javascript',
  'application/json',
  'application/ld+json',
  'application/manifest+json',
  'application/problem+json',
  'application/xml',
  'application/xhtml+xml',
  'application/rss+xml',
  'application/atom+xml',
  'application/wasm',
  'image/svg+xml',
  'image/x-icon',
  'font/ttf',
  'font/otf',
]

const compressionSchema = z
  .strictObject({
    enabled: boolean(
      'compress responses for clients that accept gzip, br or zstd, once when the cache fills; see docs/compression.md',
      true,
    ),
    codings: oneOfList(
      'codings offered, most preferred first (zstd only where Node.js has it)',
      ['br', 'zstd', 'gzip'],
      ['br', 'zstd', 'gzip'],
    ),
    types: mediaTypeList(
      'media types compressed (type/* for every subtype); images, audio, video, woff and archives never are',
      compressibleTypes,
    ),
    minBytes: size('bodies shorter than this (by Content-Length) are sent uncompressed', '1KiB'),
    levels: z
      .strictObject({
        br: integerIn("Brotli quality; 11 (Brotli's own default) is far too slow for a miss", 5, 0, 11),
        gzip: integerIn('gzip level', 6, 1, 9),
        zstd: integerIn('zstd level', 3, 1, 19),
      })
      .prefault({}),
  })
  .superRefine((compression, ctx) => {
    const seen = new Set<string>()
    for (const [index, coding] of compression.codings.entries()) {
      if (seen.has(coding)) {
        ctx.addIssue({ code: 'custom', path: ['codings', index], message: `"${coding}" is listed twice` })
      }
      seen.add(coding)
    }
  })

const surrogateSchema = z
  .strictObject({
    spaceSeparatedFields: headerList('response fields holding space-separated tags (as Fastly)', [
      'surrogate-key',
    ]),
    commaSeparatedFields: headerList('response fields holding comma-separated tags (as Cloudflare)', [
      'cache-tag',
    ]),
    stripFields: boolean('remove the tag fields from responses sent to clients', true),
    maxTags: integer('most tags kept per response; the rest are dropped and counted', 256, 1),
    maxTagBytes: size('longest tag kept; longer ones are dropped and counted', '1KiB', 1),
  })
  .superRefine((surrogate, ctx) => {
    const spaced = new Set(surrogate.spaceSeparatedFields)
    for (const [index, name] of surrogate.commaSeparatedFields.entries()) {
      if (spaced.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['commaSeparatedFields', index],
          message: `"${name}" is also in surrogate.spaceSeparatedFields; a field has one separator`,
        })
      }
    }
  })

/** The memory tier's doc lines, shared by every driver that has the field, so each is documented once. */
const maxBytesDoc =
  'total bytes of stored responses held in memory, in each worker, before the least recently used are evicted'
const maxObjectBytes = size('largest single response stored', '8MiB', 1)

/** A check that a block's largest response fits in its size, `storage.<block>.maxBytes`. */
function objectFits(block: 'memory' | 'local') {
  return (sizes: { maxBytes: number; maxObjectBytes: number }, ctx: z.RefinementCtx) => {
    if (sizes.maxObjectBytes > sizes.maxBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxObjectBytes'],
        message: `must not exceed storage.${block}.maxBytes (${sizes.maxBytes} bytes), got ${sizes.maxObjectBytes} bytes`,
      })
    }
  }
}

/** The `memory` block of a driver that keeps responses in memory: its size and the largest response. */
function memoryTier(maxBytesDefault: string) {
  return z
    .strictObject({ maxBytes: size(maxBytesDoc, maxBytesDefault, 1), maxObjectBytes })
    .superRefine(objectFits('memory'))
    .prefault({})
}

/** The `local` block: the cache directory every worker of the host shares, and its size. */
const localTier = z
  .strictObject({
    path: directoryPath(
      'cache directory shared by the workers of one instance; kept across restarts; one instance per directory',
      '.edgecache',
    ),
    maxBytes: size(
      'total bytes of stored responses kept in the cache directory before SIEVE evicts; the file may grow to about twice this',
      '1GiB',
      1,
    ),
    maxObjectBytes,
  })
  .superRefine(objectFits('local'))
  .prefault({})

/** A master watched by Redis Sentinel: the name it is monitored under and where sentinels are. */
const redisSentinelSchema = z.strictObject({
  name: name('the master name the sentinels monitor (`sentinel monitor <name> ...`)'),
  sentinels: redisUrlList(
    'sentinel URLs; user info in the first that has any logs in to every sentinel; rediss:// means TLS for sentinels and data nodes',
  ),
})

/** Files for rediss:// connections; load.ts checks they can be read. */
const redisTlsSchema = z.strictObject({
  ca: filePath('PEM file of CA certificates trusted for rediss:// besides the system ones (a private CA)'),
  cert: filePath('PEM client certificate for Redis servers that ask for one; needs storage.redis.tls.key'),
  key: filePath('PEM private key of storage.redis.tls.cert'),
})

/** The topology fields of the redis block, for messages: exactly one of them is given. */
const topologies = 'storage.redis.url, storage.redis.cluster or storage.redis.sentinel'

/** Where Redis is and how it is called; shared by the redis and tiered drivers. */
const redisSchema = z
  .strictObject({
    url: redisUrl(`the Redis server, redis:// or rediss:// (TLS); give one of ${topologies}`),
    cluster: redisUrlList(
      `seed URLs of a Redis Cluster; when not empty, Cluster mode; give one of ${topologies}`,
    ),
    sentinel: redisSentinelSchema.optional(),
    keyPrefix: keyPrefix('prefix of every key edgecache writes to Redis', 'ec:'),
    commandTimeout: duration('a Redis call not answered within this long counts as failed', '50ms'),
    lockWait: duration(
      'how long a miss waits for another instance already fetching the same key before going to the origin itself; 0s turns collapsing across instances off',
      '2s',
    ),
    lockTtl: duration(
      "how long an instance's claim to fetch a key lasts if it is never released (a crash, a slow origin)",
      '10s',
    ),
    username: name('ACL user for Redis AUTH on the data nodes; a user in a URL wins'),
    password: secretText(
      'password for Redis AUTH on the data nodes; a password in a URL wins; prefer the env variable to a file',
    ),
    tls: redisTlsSchema.optional(),
  })
  .superRefine((redis, ctx) => {
    const given = [
      redis.url !== undefined && 'url',
      redis.cluster.length > 0 && 'cluster',
      redis.sentinel !== undefined && 'sentinel',
    ].filter((field) => field !== false)
    if (given.length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: `expected ${topologies}, got none` })
    } else if (given.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [given[1] as string],
        message: `give only one of storage.redis.url, storage.redis.cluster and storage.redis.sentinel, got ${given.join(' and ')}`,
      })
    }
    if (redis.sentinel !== undefined) {
      if (redis.sentinel.name === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['sentinel', 'name'],
          message: 'expected the master name the sentinels monitor, got nothing',
        })
      }
      if (redis.sentinel.sentinels.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['sentinel', 'sentinels'],
          message: 'expected at least one sentinel URL, got none',
        })
      }
    }
    // One scheme per topology: node-redis applies TLS to every node or to none.
    for (const [path, urls] of [
      [['cluster'], redis.cluster],
      [['sentinel', 'sentinels'], redis.sentinel?.sentinels ?? []],
    ] as const) {
      const scheme = urls[0]?.split(':')[0]
      for (const [index, url] of urls.entries()) {
        if (url.split(':')[0] !== scheme) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, index],
            message: `expected ${scheme}:// like the first URL (TLS is for every node or none), got ${url.split(':')[0]}://`,
          })
        }
      }
    }
    const first = redis.url ?? redis.cluster[0] ?? redis.sentinel?.sentinels[0]
    if (redis.tls !== undefined && first !== undefined && !first.startsWith('rediss:')) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'is used only with rediss:// URLs, and the Redis URLs here are redis://',
      })
    }
    if (redis.tls !== undefined && (redis.tls.cert === undefined) !== (redis.tls.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', redis.tls.cert === undefined ? 'cert' : 'key'],
        message: 'expected storage.redis.tls.cert and storage.redis.tls.key together, got one of them',
      })
    }
    if (redis.commandTimeout === 0) {
      ctx.addIssue({ code: 'custom', path: ['commandTimeout'], message: 'expected more than 0ms, got 0ms' })
    }
    if (redis.lockTtl === 0) {
      ctx.addIssue({ code: 'custom', path: ['lockTtl'], message: 'expected more than 0ms, got 0ms' })
    } else if (redis.lockWait > redis.lockTtl) {
      // The claim would run out first and the waiter would go to the origin anyway.
      ctx.addIssue({
        code: 'custom',
        path: ['lockWait'],
        message: `must not exceed storage.redis.lockTtl (${redis.lockTtl}ms), got ${redis.lockWait}ms`,
      })
    }
  })
  .prefault({})

const driverDoc = 'storage backend'

const localStorageSchema = z.strictObject({
  driver: discriminator(driverDoc, 'local', true),
  local: localTier,
})

const memoryStorageSchema = z.strictObject({
  driver: discriminator(driverDoc, 'memory'),
  memory: memoryTier('256MiB'),
})

const redisStorageSchema = z.strictObject({
  driver: discriminator(driverDoc, 'redis'),
  redis: redisSchema,
  memory: z.strictObject({ maxObjectBytes }).prefault({}),
})

const tieredStorageSchema = z.strictObject({
  driver: discriminator(driverDoc, 'tiered'),
  redis: redisSchema,
  local: localTier,
})

/** Storage is a union on `driver`: a backend is an option here, not fields beside the others. */
const storageSchema = z.discriminatedUnion('driver', [
  localStorageSchema,
  memoryStorageSchema,
  redisStorageSchema,
  tieredStorageSchema,
])

/** The whole config file's schema. Parse with load.ts, which also merges env and flags. */
export const configSchema = z
  .strictObject({
    listen: listen('where the proxy listens (plain HTTP/1.1)', '0.0.0.0:8000'),
    tls: tlsSchema,
    http2: http2Schema,
    routes: filePath(
      'route file (.json, .yaml or .yml) naming URL classes and their cache policy; see docs/routes.md',
    ),
    admin: z
      .strictObject({
        listen: listen('where the admin endpoints listen', '127.0.0.1:9091'),
        tokens: tokenList('bearer tokens accepted by POST /invalidate; with none, it answers 403'),
        tokenFile: filePath('file of more admin tokens, one a line; blank lines and # comments skipped'),
      })
      .prefault({}),
    upstream: upstreamSchema.prefault({}),
    upstreams: upstreamsSchema,
    server: serverSchema.prefault({}),
    cache: cacheSchema.prefault({}),
    compression: compressionSchema.prefault({}),
    surrogate: surrogateSchema.prefault({}),
    storage: storageSchema.prefault({ driver: 'local' }),
    rateLimit: z
      .strictObject({
        shared: oneOf(
          "where the route file's rate limit buckets are kept: redis (every instance on the store's Redis shares them; storage.driver redis or tiered), host (the workers of each host share theirs), or auto: redis when the store has Redis, else host",
          rateLimitSharing,
          'auto',
        ),
      })
      .prefault({}),
    workers: computedInteger('worker processes', () => availableParallelism(), 1, 'number of CPUs'),
    readiness: z
      .strictObject({
        requireUpstream: boolean(
          '/ready answers 503 while the backend fails its checks; off, it stays 200 (degraded): the cache can still serve',
          false,
        ),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: oneOf('least severe level logged', logLevels, 'info'),
        access: boolean('write one access line per request (at info level)', true),
        accessSample: fraction('share of requests that get an access line, 0..1 (errors always do)', 1),
        accessQuery: boolean(
          'include the query string in the access line path (and the combined Referer)',
          false,
        ),
        accessFormat: oneOf(
          'access line format: json (one object, as the other lines) or combined (NCSA, as Apache and nginx)',
          accessFormats,
          'json',
        ),
        file: filePath('write logs to this file instead of standard output'),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    if (
      config.rateLimit.shared === 'redis' &&
      config.storage.driver !== 'redis' &&
      config.storage.driver !== 'tiered'
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['rateLimit', 'shared'],
        message: `redis needs storage.driver redis or tiered, got ${config.storage.driver}`,
      })
    }
    // upstream.url is the pool named "default": one name, one pool.
    if (config.upstream.url !== undefined && Object.hasOwn(config.upstreams, defaultPoolName)) {
      ctx.addIssue({
        code: 'custom',
        path: ['upstreams', defaultPoolName],
        message: `"${defaultPoolName}" is the pool upstream.url makes; give this pool another name, or drop upstream.url`,
      })
    }
  })

/** The command-line flags that set a config field, and the field each sets (dotted path). */
export const fieldFlags = {
  upstream: 'upstream.url',
  listen: 'listen',
  'admin-listen': 'admin.listen',
  workers: 'workers',
  'log-level': 'log.level',
  routes: 'routes',
  store: 'storage.driver',
  'cache-dir': 'storage.local.path',
  // Repeatable: one sets storage.redis.url, several set storage.redis.cluster (load.ts).
  'redis-url': 'storage.redis.url',
  // Repeatable: every one given is a sentinel (load.ts).
  'redis-sentinel': 'storage.redis.sentinel.sentinels',
  'redis-sentinel-name': 'storage.redis.sentinel.name',
  'tls-listen': 'tls.listen',
  'tls-cert': 'tls.cert',
  'tls-key': 'tls.key',
  'tls-client-ca': 'tls.clientCa',
  'tls-client-cert': 'tls.clientCert',
} as const

/** Flags that feed the config: one per entry of `fieldFlags`, plus `config` (the file). */
export type FlagName = keyof typeof fieldFlags | 'config'

/** Flags that may be given more than once; their value is every one given, in order. */
export type RepeatableFlag = 'redis-url' | 'redis-sentinel'

/** Flag values as given, keyed by flag name without the dashes. */
export type FlagValues = {
  readonly [K in FlagName]?: K extends RepeatableFlag ? readonly string[] : string
}

/** A leaf field of the schema, with everything the env mapping and the docs need. */
export interface FieldInfo {
  /** Keys from the root, e.g. `['storage', 'memory', 'maxBytes']`. */
  readonly path: readonly string[]
  /** The first option's meta, for a field several options of a union have. */
  readonly meta: FieldMeta
  /**
   * `EDGECACHE_` and the path in SCREAMING_SNAKE, `__` between levels; empty for a field under
   * a user-chosen name (`upstreams.<name>.…`), which only a config file sets.
   */
  readonly envName: string
  readonly flag: keyof typeof fieldFlags | undefined
  /**
   * For a field inside options of a union, the discriminator and the values of every option
   * that has it: `driver: memory` or `driver: redis | tiered`.
   */
  readonly when: string | undefined
  /**
   * Set when options of a union give the field different defaults: each option's value and
   * its default text (undefined: none), in option order.
   */
  readonly defaults?: readonly (readonly [string, string | undefined])[]
}

/**
 * Every leaf field of `configSchema` in schema order. A field several options of a union
 * have (the same path) is listed once, saying which options use it.
 */
export function listFields(): readonly FieldInfo[] {
  const fields = new Map<string, FieldInfo>()
  const flagOf = new Map<string, keyof typeof fieldFlags>(
    Object.entries(fieldFlags).map(([flag, path]) => [path, flag as keyof typeof fieldFlags]),
  )
  const visit = (
    schema: z.ZodType,
    path: readonly string[],
    found: (path: readonly string[], meta: FieldMeta) => void,
  ): void => {
    const meta = fieldMeta.get(schema)
    if (meta !== undefined) {
      found(path, meta)
    } else if (schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional) {
      visit(schema.def.innerType as z.ZodType, path, found)
    } else if (schema instanceof z.ZodRecord) {
      // A mapping of names chosen by the user (upstreams): its fields are documented once, under <name>.
      visit(schema.def.valueType as z.ZodType, [...path, '<name>'], found)
    } else if (schema instanceof z.ZodDiscriminatedUnion) {
      visitUnion(schema, path, found)
    } else if (schema instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(schema.shape))
        visit(child as z.ZodType, [...path, name], found)
    } else {
      throw new Error(`config schema: no doc meta for ${path.join('.') || 'the root'}`)
    }
  }
  const visitUnion = (
    schema: z.ZodDiscriminatedUnion,
    path: readonly string[],
    found: (path: readonly string[], meta: FieldMeta) => void,
  ): void => {
    const key = schema.def.discriminator
    const options = schema.def.options as z.ZodObject[]
    const metas = options.map((option) => fieldMeta.get(option.shape[key] as z.ZodType))
    const values = metas.map((meta) => meta?.type)
    const first = metas[0]
    if (first === undefined || values.includes(undefined)) {
      throw new Error(`config schema: no doc meta for ${[...path, key].join('.')}`)
    }
    // The discriminator is one field whose type is every option's value.
    const defaultText = metas.find((meta) => meta?.defaultText !== undefined)?.defaultText
    found([...path, key], { ...first, type: values.join(' | '), ...(defaultText ? { defaultText } : {}) })
    // Each leaf path inside the options, with its meta in every option that has it.
    const seen = new Map<string, { path: readonly string[]; byValue: [string, FieldMeta][] }>()
    options.forEach((option, index) => {
      const value = values[index] as string
      for (const [name, child] of Object.entries(option.shape)) {
        if (name === key) continue
        visit(child as z.ZodType, [...path, name], (fieldPath, meta) => {
          const dotted = fieldPath.join('.')
          const entry = seen.get(dotted) ?? { path: fieldPath, byValue: [] }
          entry.byValue.push([value, meta])
          seen.set(dotted, entry)
        })
      }
    })
    for (const [dotted, { path: fieldPath, byValue }] of seen) {
      // Never empty: an entry is made with its first option.
      const [, meta] = byValue[0] as [string, FieldMeta]
      for (const [, other] of byValue) {
        if (other.kind !== meta.kind || other.type !== meta.type || other.doc !== meta.doc) {
          throw new Error(`config schema: ${dotted} differs between ${key} options beyond its default`)
        }
      }
      // A field every option has needs no condition.
      const when =
        byValue.length === options.length
          ? undefined
          : `${key}: ${byValue.map(([value]) => value).join(' | ')}`
      const sameDefault = byValue.every(([, other]) => other.defaultText === meta.defaultText)
      const defaults = byValue.map(([value, other]) => [value, other.defaultText] as const)
      fields.set(dotted, {
        path: fieldPath,
        meta,
        envName: envNameOf(fieldPath),
        flag: flagOf.get(dotted),
        when,
        ...(sameDefault ? {} : { defaults }),
      })
    }
  }
  visit(configSchema, [], (path, meta) => {
    const dotted = path.join('.')
    if (!fields.has(dotted)) {
      fields.set(dotted, { path, meta, envName: envNameOf(path), flag: flagOf.get(dotted), when: undefined })
    }
  })
  return [...fields.values()]
}

function envNameOf(path: readonly string[]): string {
  // Fields under a name the user chooses (upstreams.<name>) are set in the file only.
  if (path.includes('<name>')) return ''
  return `EDGECACHE_${path.map((key) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__')}`
}

/** The parsed, validated and deep-frozen config. Durations are milliseconds; sizes are bytes. */
export interface Config {
  /** Where the proxy listens (plain HTTP/1.1). */
  readonly listen: ListenAddress
  /** The TLS listener; on when it has a certificate. */
  readonly tls: TlsConfig
  readonly http2: Http2Config
  /**
   * Path of the route file, as written (relative paths from the working directory); unset
   * means every request takes the default route. Read by src/router/load.ts, not here.
   */
  readonly routes?: string | undefined
  readonly admin: AdminConfig
  readonly upstream: UpstreamConfig
  /** Named pools of backend servers; routes pick one by name. */
  readonly upstreams: Readonly<Record<string, PoolConfig>>
  readonly server: ServerConfig
  readonly cache: CacheConfig
  readonly compression: CompressionConfig
  readonly surrogate: SurrogateConfig
  readonly storage: StorageConfig
  readonly rateLimit: {
    /**
     * Where the route file's rate limit buckets are kept: `redis` (the store's Redis, shared
     * by every instance), `host` (the primary's, shared by the host's workers), or `auto`
     * (redis when the store has Redis).
     */
    readonly shared: (typeof rateLimitSharing)[number]
  }
  /** Worker processes, at least 1. Defaults to `os.availableParallelism()`. */
  readonly workers: number
  readonly readiness: {
    /** A backend failing its checks makes /ready 503, not only `degraded`. */
    readonly requireUpstream: boolean
  }
  readonly log: {
    /** Least severe level logged. */
    readonly level: (typeof logLevels)[number]
    /** One access line per finished request. */
    readonly access: boolean
    /** 0..1: share of requests logged; 5xx answers are always logged. */
    readonly accessSample: number
    /** Keep the query string in the access line's path. */
    readonly accessQuery: boolean
    /** `json` (one object a line, like the other log lines) or `combined` (NCSA). */
    readonly accessFormat: (typeof accessFormats)[number]
    /** Log file; standard output when unset. */
    readonly file?: string | undefined
  }
}

/** The admin listener and who may use its invalidation endpoint. */
export interface AdminConfig {
  /** Where the admin endpoints listen. */
  readonly listen: ListenAddress
  /**
   * Bearer tokens for `POST /invalidate`: from the file's `admin.tokens`, or
   * `EDGECACHE_ADMIN_TOKEN` / `EDGECACHE_ADMIN__TOKENS` (comma-separated), plus every line of
   * `tokenFile`. Secrets: never log them. Empty means invalidation answers 403.
   */
  readonly tokens: readonly string[]
  /** Path of a file of tokens, one a line, as written; its tokens are already in `tokens`. */
  readonly tokenFile?: string | undefined
}

/** The upstream (origin) and its connection pool. */
export interface UpstreamConfig {
  /** Absolute http: or https: URL, as written. Optional in the schema; serving needs it. */
  readonly url?: string | undefined
  /** Host header sent upstream instead of the client's; unset keeps the client's. */
  readonly host?: string | undefined
  /** Keep-alive pool size. */
  readonly connections: number
  /** Milliseconds. */
  readonly connectTimeout: number
  /** Milliseconds to wait for response headers. */
  readonly headersTimeout: number
  /** Milliseconds the body may pause. */
  readonly bodyTimeout: number
  /** Milliseconds an idle connection is kept. */
  readonly keepAliveTimeout: number
  /** Milliseconds between active health checks; 0 = none. */
  readonly healthCheckInterval: number
  /** Requests waiting for a connection before 503s; 0 = none wait. */
  readonly queue: number
  /** PEM paths for an https:// url; `cert` is set exactly when `key` is. */
  readonly tls: {
    readonly ca?: string | undefined
    readonly cert?: string | undefined
    readonly key?: string | undefined
  }
}

/** Client-facing listener limits and timeouts. */
export interface ServerConfig {
  /** Bytes. */
  readonly maxHeaderBytes: number
  readonly maxHeaderCount: number
  /** Bytes. */
  readonly maxUriBytes: number
  /** Bytes. */
  readonly maxBodyBytes: number
  /** Bytes of a request body read before going upstream; 0 = stream every body. */
  readonly requestBuffering: number
  /** Milliseconds for the request headers to arrive. */
  readonly headersTimeout: number
  /** Milliseconds for the whole request to arrive; 0 = no limit. */
  readonly requestTimeout: number
  /** Milliseconds an idle client connection is kept. */
  readonly keepAliveTimeout: number
  /** Milliseconds to drain requests on shutdown. */
  readonly shutdownTimeout: number
  /** 0 = unlimited. */
  readonly maxConnections: number
  readonly backlog: number
  /** Workers listen with SO_REUSEPORT (Linux; ignored with one process). */
  readonly reusePort: boolean
  /** Milliseconds a worker may go without answering the primary before it is replaced; 0 = never. */
  readonly workerStallTimeout: number
  /** Milliseconds per window of the memory release after start and after a busy spell (memory-release.ts); 0 = never. */
  readonly idleMemoryRelease: number
  /** IP addresses and CIDR ranges, IPv4 or IPv6, as written. */
  readonly trustedProxies: readonly string[]
  /** Lowercase header field names. */
  readonly stripRequestHeaders: readonly string[]
  /** Lowercase header field names kept only from trusted proxies. */
  readonly proxyOnlyHeaders: readonly string[]
  /** Upper-case method names forwarded, or `*`. */
  readonly methods: readonly string[]
  readonly purgeMethod: PurgeMethodConfig
  readonly upgrades: UpgradesConfig
  readonly proxyProtocol: ProxyProtocolConfig
}

/** Upgrade requests (WebSockets) tunnelled to the backend (server/upgrade.ts). */
export interface UpgradesConfig {
  /** Off: an Upgrade request is answered as a plain request, its Upgrade field dropped. */
  readonly enabled: boolean
  /** Milliseconds without a byte either way before a tunnel is cut. */
  readonly idleTimeout: number
  /** Per worker; more get 503. */
  readonly maxTunnels: number
}

/** The PROXY protocol on the proxy listener (server/proxy-protocol-listener.ts). */
export interface ProxyProtocolConfig {
  /** Off by default: no connection is read ahead. */
  readonly enabled: boolean
  /** IP addresses and CIDR ranges that must send a header; not empty when `enabled`. */
  readonly allow: readonly string[]
}

/** The optional `PURGE` method on the proxy listener. */
export interface PurgeMethodConfig {
  /** Off by default: PURGE is then answered 405 and never forwarded (pipeline/stages/methods.ts). */
  readonly enabled: boolean
  /** IP addresses and CIDR ranges, IPv4 or IPv6, as written; not empty when `enabled`. */
  readonly allow: readonly string[]
}

/** Where tags (surrogate keys) are read from in responses, and how many are kept. */
export interface SurrogateConfig {
  /** Lowercase field names whose values are separated by spaces. */
  readonly spaceSeparatedFields: readonly string[]
  /** Lowercase field names whose values are separated by commas; none also space-separated. */
  readonly commaSeparatedFields: readonly string[]
  /** Remove the tag fields from what the client sees. */
  readonly stripFields: boolean
  readonly maxTags: number
  /** Bytes (UTF-8) of the longest tag kept. */
  readonly maxTagBytes: number
}

/** The RFC 9111 engine's settings. */
export interface CacheConfig {
  /** Token naming this cache in Cache-Status. */
  readonly name: string
  /** 0..1. */
  readonly heuristicFraction: number
  /** Milliseconds. */
  readonly maxHeuristicTtl: number
  /** Lowercase field name (RFC 9213). */
  readonly targetedField: string
  /** Whether clients' own cache directives count (per route too). */
  readonly requestDirectives: 'honour' | 'ignore'
  /** IPs or CIDRs, as written, whose directives always count. */
  readonly refreshFrom: readonly string[]
  /** Consume CDN-Cache-Control too, rather than passing it on. */
  readonly stripCdnCacheControl: boolean
  /** Milliseconds. */
  readonly collapseTimeout: number
  /** Milliseconds between background refreshes of a response that arrived stale; 0 at every stale answer. */
  readonly refreshInterval: number
  /** Bytes held by one process's fills in progress. */
  readonly fillMemory: number
  /** Milliseconds a stale response may stand in for an unreachable origin; 0 off. */
  readonly staleIfDisconnected: number
  /** Milliseconds a stale response with ETag or Last-Modified stays stored for conditional revalidation. */
  readonly keep: number
  /** What a Range request that misses fetches: the whole response, or the range, kept as a part (per route too). */
  readonly rangeRequests: 'whole' | 'parts'
}

/** Compression of responses for clients that accept it (docs/compression.md). */
export interface CompressionConfig {
  readonly enabled: boolean
  /** Codings offered, most preferred first; no duplicates. */
  readonly codings: readonly ('br' | 'zstd' | 'gzip')[]
  /** Lowercase media types, `type/subtype` or `type/*`. */
  readonly types: readonly string[]
  /** Bytes. */
  readonly minBytes: number
  readonly levels: {
    /** Brotli quality, 0..11. */
    readonly br: number
    /** 1..9. */
    readonly gzip: number
    /** 1..19. */
    readonly zstd: number
  }
}

/** Size limits of a memory tier. */
export interface MemoryTierConfig {
  /** Bytes held before the least recently used are evicted. */
  readonly maxBytes: number
  /** Bytes of the largest response stored; at most `maxBytes`. */
  readonly maxObjectBytes: number
}

/** The cache directory and its size limits. */
export interface LocalTierConfig {
  /** The directory, as written (relative to the working directory). */
  readonly path: string
  /** Bytes of live entries held before SIEVE evicts. */
  readonly maxBytes: number
  /** Bytes of the largest response stored; at most `maxBytes`. */
  readonly maxObjectBytes: number
}

/** One store in files under a cache directory, shared by every worker of the instance. */
export interface LocalStorageConfig {
  readonly driver: 'local'
  readonly local: LocalTierConfig
}

/** The in-memory LRU store, one per worker process. */
export interface MemoryStorageConfig {
  readonly driver: 'memory'
  readonly memory: MemoryTierConfig
}

/** Where Redis is and how it is called (the redis and tiered drivers). */
export interface RedisConnectionConfig {
  /** A `redis://` or `rediss://` URL, as written; exactly one of `url`, `cluster` and `sentinel` is given. */
  readonly url?: string | undefined
  /** Seed URLs of a Redis Cluster, as written; not empty means Cluster mode; all one scheme. */
  readonly cluster: readonly string[]
  /** A master found through Redis Sentinel. */
  readonly sentinel?: RedisSentinelConfig | undefined
  /** Prepended to every key written to Redis; no `{` or `}`. */
  readonly keyPrefix: string
  /** Milliseconds, more than 0: a call not answered within it counts as failed. */
  readonly commandTimeout: number
  /**
   * Milliseconds a miss waits for another instance's fetch of the same key; 0 turns
   * collapsing across instances off. At most `lockTtl`.
   */
  readonly lockWait: number
  /** Milliseconds, more than 0: how long a claim to fetch a key lasts unless released. */
  readonly lockTtl: number
  /** ACL user for the data nodes; a user in a URL wins. */
  readonly username?: string | undefined
  /** Redis AUTH password for the data nodes; a password in a URL wins. A secret: never log it. */
  readonly password?: string | undefined
  /** PEM files for `rediss://`; only with rediss:// URLs. */
  readonly tls?: RedisTlsConfig | undefined
}

/** Where the sentinels are and which master they watch. */
export interface RedisSentinelConfig {
  /** Always set after validation; optional only in the schema's type. */
  readonly name?: string | undefined
  /** Sentinel URLs, as written; at least one, all one scheme. */
  readonly sentinels: readonly string[]
}

/** Paths of PEM files, as written; load.ts has checked they can be read. */
export interface RedisTlsConfig {
  readonly ca?: string | undefined
  /** Set exactly when `key` is. */
  readonly cert?: string | undefined
  readonly key?: string | undefined
}

/** Every response in Redis, shared by all instances; nothing kept in memory. */
export interface RedisStorageConfig {
  readonly driver: 'redis'
  readonly redis: RedisConnectionConfig
  readonly memory: {
    /**
     * Never set: redis keeps no memory tier. Declared so `storage.memory.maxBytes` can be
     * read on the union (undefined here) without first narrowing on `driver`.
     */
    readonly maxBytes?: undefined
    /** Bytes of the largest response stored. */
    readonly maxObjectBytes: number
  }
}

/** The local store (L1, shared by the host's workers) in front of Redis (L2, shared by hosts). */
export interface TieredStorageConfig {
  readonly driver: 'tiered'
  readonly redis: RedisConnectionConfig
  readonly local: LocalTierConfig
}

/** One option per storage driver, discriminated by `driver`. */
export type StorageConfig =
  | LocalStorageConfig
  | MemoryStorageConfig
  | RedisStorageConfig
  | TieredStorageConfig

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

/**
 * `Config` is written out by hand so each field can carry TSDoc with its unit; this
 * fails to compile when it and the schema's output drift apart.
 */
const configMatchesSchema: Same<DeepReadonly<z.output<typeof configSchema>>, DeepReadonly<Config>> = true
void configMatchesSchema
