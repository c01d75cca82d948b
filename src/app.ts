/**
 * The composition root: builds every part of edgecache from a validated Config and wires
 * them together. The only module that sees the whole Config.
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { type AddressList, createAddressList } from './address-list.ts'
import { createAdminServer, type Readiness } from './admin/admin-server.ts'
import { createClusterStatus } from './admin/cluster-status.ts'
import { createStatusTracker } from './admin/status.ts'
import { type Clock, systemClock } from './clock.ts'
import type { AdmissionOptions } from './cache/admission.ts'
import { configChanges } from './config/changes.ts'
import type { CacheConfig, Config } from './config/schema.ts'
import { ProblemsError } from './errors.ts'
import { createClusterMetrics } from './observability/cluster-metrics.ts'
import { createAccessLog } from './observability/access-log.ts'
import { events, publish } from './observability/events.ts'
import { createLogging, type Logger, type Logging } from './observability/logger.ts'
import { createMetrics } from './observability/metrics.ts'
import { createCollapser } from './pipeline/collapser.ts'
import { FillMemory } from './pipeline/cache/fill-body.ts'
import { compose } from './pipeline/compose.ts'
import { createSharedCollapser } from './pipeline/shared-collapser.ts'
import { createCacheStage } from './pipeline/cache/stage.ts'
import { createStoredEncodings } from './pipeline/cache/encodings.ts'
import { createCompressStage } from './pipeline/stages/compress.ts'
import { createCompression } from './compression/compression.ts'
import { createMethodsStage } from './pipeline/stages/methods.ts'
import { createPurgeMethodStage } from './pipeline/stages/purge-method.ts'
import { createRouteStage } from './pipeline/stages/route.ts'
import { createSurrogateStage } from './pipeline/stages/surrogate.ts'
import { createUpgradeStage } from './pipeline/stages/upgrade.ts'
import { createUpstreamStage } from './pipeline/stages/upstream.ts'
import { certificateFilesOf } from './config/tls.ts'
import { createClientCertStage } from './pipeline/stages/client-cert.ts'
import { createHttpsRedirect } from './server/https-redirect.ts'
import { createLiveCertificates, type LiveCertificates } from './server/live-certificates.ts'
import { listensOnOwnSocket } from './server/accept-policy.ts'
import { releaseMemoryWhenQuiet } from './memory-release.ts'
import { listenError } from './server/listen-error.ts'
import { followTicketKeys } from './server/cluster-ticket-keys.ts'
import { createProxyServer, type ProxyServer, type ProxyServerOptions } from './server/proxy-server.ts'
import { urlKey } from './router/cache-key.ts'
import { createLiveRouter } from './router/live-router.ts'
import { type ApplyReload, createReloader } from './reload/cluster-reload.ts'
import type { ReloadReport, ReloadScope, ReloadTrigger, WorkerReload } from './reload/reload-report.ts'
import type { CacheStore } from './storage/store.ts'
import { createWorkerFillLocks } from './storage/worker-fill-locks.ts'
import { buildStore } from './store-from-config.ts'
import { createClusterInvalidator } from './surrogate/cluster-invalidator.ts'
import { observeInvalidations } from './surrogate/observed-invalidator.ts'
import { createStoreInvalidator } from './surrogate/store-invalidator.ts'
import { createForwarding } from './upstream/forwarding.ts'
import { createPools, poolNamesOf } from './upstream/pools.ts'
import { createClientAddress } from './limits/client-address.ts'
import { createClusterRateLimiter } from './limits/cluster-rate-limiter.ts'
import { createLocalRateLimiter, type RateLimiter } from './limits/rate-limiter.ts'
import { createSharedRateLimiter } from './limits/shared-rate-limiter.ts'
import { createRateLimitStage } from './pipeline/stages/rate-limit.ts'
import { createRulesStage } from './pipeline/stages/rules.ts'

export interface AppDeps {
  /** The logger and the output access lines share. @default to `log.file` or standard output */
  readonly logging?: Logging
  readonly clock?: Clock
  /**
   * This instance's name on the Redis invalidation bus, the same in each of its workers
   * (they share one local store). @default one per process
   */
  readonly instance?: string
  /**
   * Loads the config again from where it came from (file, environment, flags), for a
   * reload of the whole config; without it a reload reloads the route file only.
   */
  readonly loadConfig?: () => Config
}

export interface Listening {
  readonly proxy: { readonly host: string; readonly port: number }
  readonly admin: { readonly host: string; readonly port: number }
  /** The TLS listener, when a certificate is configured. */
  readonly tls?: { readonly host: string; readonly port: number }
  /** The cleartext HTTP/2 listener, when `http2.cleartextListen` is set. */
  readonly h2c?: { readonly host: string; readonly port: number }
}

export interface App {
  /** Opens the proxy and admin listeners on the configured addresses. */
  listen(): Promise<Listening>
  /** Graceful shutdown: stop accepting, finish in-flight requests within the bound, close pools. */
  close(): Promise<void>
  readonly store: CacheStore
  readonly logger: Logger
  /**
   * Reloads in every worker of the instance (SIGHUP and `POST /reload` call this): the
   * whole config, or the route file only. Whatever is refused keeps what is in force.
   */
  reload(scope: ReloadScope, trigger: ReloadTrigger): Promise<ReloadReport>
  /** Opens `log.file` again at its path (SIGUSR2 calls this, after logrotate moved the file). */
  reopenLogs(): void
  /**
   * Requests collapsed behind another's fetch right now, the keys being fetched, and the
   * requests waiting for another instance's fetch (collapsing across instances).
   */
  collapsing(): { readonly keys: number; readonly waiting: number; readonly waitingOnOthers: number }
}

/**
 * @example
 * const app = await createApp(loadConfig({ flags: { upstream: 'http://127.0.0.1:8080' } }))
 * const { proxy } = await app.listen()
 */
export async function createApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const upstreamUrl = config.upstream.url
  if (upstreamUrl === undefined && Object.keys(config.upstreams).length === 0) {
    throw new Error('upstream.url or upstreams is required to serve (pass --upstream URL)')
  }
  const clock = deps.clock ?? systemClock
  const logging = deps.logging ?? createLogging({ level: config.log.level, file: config.log.file })
  const logger = logging.logger
  // What a reload may change is read from `live` at each use (see config/changes.ts).
  let live = config
  // pino children keep the level they were made with: a reload sets each one's.
  const children: Logger[] = [logger]
  const child = (component: string): Logger => {
    const made = logger.child({ component })
    children.push(made)
    return made
  }

  // First: a route file naming an unknown pool stops the start before anything is opened.
  const routes = createLiveRouter({
    path: config.routes,
    pools: poolNamesOf(config),
    log: child('routes'),
    onReload: (result, trigger) => publish(events.routesReload, { ok: result.ok, trigger }),
  })
  const inWorker = cluster.isWorker && process.send !== undefined
  const built = await buildStore(config.storage, {
    clock,
    log: child(`storage.${config.storage.driver}`),
    onEvict: (reason) => publish(events.cacheEvicted, { reason }),
    onL1Reset: () => publish(events.storageError, { store: config.storage.driver, op: 'subscribe' }),
    // The primary set aside an unusable store before it started the workers.
    setAsideUnusable: !inWorker,
    instance: deps.instance,
    // Workers sharing the local store collapse misses through the primary; within the
    // collapse bound, as requests on one worker wait for each other.
    workerFills: inWorker
      ? {
          locks: createWorkerFillLocks(
            (message) => process.send?.(message),
            (listener) => process.on('message', listener),
          ),
          ttlMs: config.cache.collapseTimeout,
          waitMs: config.cache.collapseTimeout,
        }
      : undefined,
  })
  // One store for every worker: no purge needs relaying to the others (memory: one each).
  const perProcessStore = config.storage.driver === 'memory'
  const store = built.store
  const upstreamLog = child('upstream')
  const clientAddress = createClientAddress(config.server.trustedProxies)
  const pools = createPools({
    upstream: config.upstream,
    liveTimeouts: () => ({ headersMs: live.upstream.headersTimeout, bodyMs: live.upstream.bodyTimeout }),
    upstreams: config.upstreams,
    forwarding: (hostOverride) =>
      createForwarding({
        trustedProxies: config.server.trustedProxies,
        stripRequestHeaders: config.server.stripRequestHeaders,
        proxyOnlyFields: config.server.proxyOnlyHeaders,
        clientSubjectField: config.tls.clientSubjectHeader,
        hostOverride,
      }),
    // The URL part of the cache key, under the route's query rules: what `hash: key` spreads.
    cacheKey: (ctx) => urlKey(ctx.scheme, ctx.host, ctx.target, ctx.facts.policy.key),
    clientAddress,
    clock,
    // Each server going down or coming back is logged once, not at every check.
    onChange: (pool, server, available, error) => {
      if (available) upstreamLog.info({ upstream: pool, server }, 'backend up')
      else upstreamLog.warn({ upstream: pool, server, error }, 'backend down')
    },
  })
  const pipelineLog = child('pipeline')
  const collapser = createCollapser()
  const sharedCollapser = createSharedCollapser({
    fills: built.fills,
    log: child('cache.fill-lock'),
  })
  // A URL, purged or invalidated after an unsafe method (RFC 9111 §4.4), is found under the
  // key its GET was stored by: the GET route's key rules (a normalised query).
  const storedUrlKey = (scheme: string, host: string, target: string) => {
    const path = target.split('?', 1)[0]!
    const policy = routes.current().match('GET', host.replace(/:\d+$/, ''), path).route.policy.key
    return urlKey(scheme, host, target, policy)
  }
  const storeInvalidator = createStoreInvalidator({
    store,
    clock,
    urlKey: (url) => {
      const u = new URL(url)
      return storedUrlKey(u.protocol.slice(0, -1), u.host, u.pathname + u.search)
    },
  })
  const invalidator = observeInvalidations(
    perProcessStore ? createClusterInvalidator(storeInvalidator) : storeInvalidator,
    clock,
  )
  // Buckets in the store's Redis hold a limit across every instance; the host's own
  // (workers share theirs through the primary) hold it across its workers, and stand in
  // for Redis when it does not answer.
  const rateLimiter = (): RateLimiter => {
    const host = inWorker
      ? createClusterRateLimiter(
          (message) => process.send?.(message),
          (listener) => process.on('message', listener),
          clock,
        )
      : createLocalRateLimiter(clock)
    if (built.rateBuckets === undefined || config.rateLimit.shared === 'host') return host
    return createSharedRateLimiter({ buckets: built.rateBuckets, fallback: host, log: child('limits') })
  }
  const surrogateLog = child('surrogate')
  const compressionLog = child('compression')
  const compression = config.compression.enabled
    ? createCompression({
        codings: config.compression.codings,
        types: config.compression.types,
        minBytes: config.compression.minBytes,
        levels: config.compression.levels,
        // A stored body is coded anew only if it decodes within what the store would keep.
        maxDecodedBytes: built.maxObjectBytes,
      })
    : undefined
  if (compression !== undefined && compression.unavailable.length > 0) {
    compressionLog.warn(
      { unavailable: compression.unavailable, node: process.version },
      'compression codings missing from this node.js are not offered',
    )
  }
  const rulesLog = child('rules')
  // Every request, an Upgrade request too, is classified and meets the rules and limits.
  const admission = [
    createRulesStage({
      name: 'rules',
      rules: () => routes.current().rules,
      clientAddress,
      log: rulesLog,
    }),
    createRouteStage({ router: routes.current }),
    // mTLS routes: 403 without a verified client certificate, before anything else runs.
    createClientCertStage(),
    createRulesStage({
      name: 'route-rules',
      rules: (ctx) => ctx.facts.match?.route.rules,
      clientAddress,
      log: rulesLog,
    }),
    createRateLimitStage({ limiter: rateLimiter(), clientAddress }),
  ]
  const pipeline = compose(
    [
      ...admission,
      // PURGE is answered here when the PURGE method is on; the methods stage refuses it otherwise.
      createPurgeMethodStage({
        enabled: config.server.purgeMethod.enabled,
        allow: config.server.purgeMethod.allow,
        invalidator,
      }),
      createMethodsStage({ methods: () => live.server.methods }),
      createCacheStage({
        store,
        clock,
        collapser,
        // Without fill locks (the memory store, one process) a miss goes upstream as it always did.
        sharedCollapser: built.fills === undefined ? undefined : sharedCollapser,
        invalidator,
        urlKeyOf: storedUrlKey,
        storeName: config.storage.driver,
        log: child('cache'),
        maxObjectBytes: built.maxObjectBytes,
        // A browser reload must not send every request to the origin: clients' refresh
        // directives count where the route or cache.requestDirectives says, or from refreshFrom.
        honoursRequestDirectives: (ctx) =>
          (ctx.facts.policy.requestDirectives ?? live.cache.requestDirectives) === 'honour' ||
          refreshersOf(live.cache).has(clientAddress(ctx)),
        get name() {
          return live.cache.name
        },
        fillMemory: new FillMemory(() => live.cache.fillMemory),
        get collapseTimeoutMs() {
          return live.cache.collapseTimeout
        },
        get keepMs() {
          return live.cache.keep
        },
        get staleIfDisconnectedMs() {
          return live.cache.staleIfDisconnected
        },
        get refreshIntervalMs() {
          return live.cache.refreshInterval
        },
        get rangeRequests() {
          return live.cache.rangeRequests
        },
        get admission() {
          return admissionOf(live.cache)
        },
        encodings: compression === undefined ? undefined : createStoredEncodings(compression),
      }),
      // Below the cache: what it codes is stored coded, and hits are served as stored.
      ...(compression === undefined ? [] : [createCompressStage({ compression, log: compressionLog })]),
      createSurrogateStage({
        fields: {
          spaceSeparated: config.surrogate.spaceSeparatedFields,
          commaSeparated: config.surrogate.commaSeparatedFields,
          maxTags: config.surrogate.maxTags,
          maxTagBytes: config.surrogate.maxTagBytes,
        },
        strip: config.surrogate.stripFields,
        onDropped: (count, reqId) => {
          publish(events.tagsDropped, { count })
          surrogateLog.warn({ count, reqId }, 'tags dropped over the limits')
        },
      }),
      createUpstreamStage({
        pool: (name) => pools.get(name),
        requestBufferingBytes: () => live.server.requestBuffering,
      }),
    ],
    pipelineLog,
  )

  // An Upgrade request (a WebSocket) is tunnelled to its route's pool: never cached.
  const upgradePipeline = compose(
    [
      ...admission,
      createMethodsStage({ methods: () => live.server.methods }),
      createUpgradeStage({ pool: (name) => pools.get(name) }),
    ],
    pipelineLog,
  )

  // Made again by a reload: its format and query rule are live.
  const accessLogOf = (log: Config['log']) =>
    createAccessLog({ format: log.accessFormat, withQuery: log.accessQuery, output: logging.output })
  let accessLog = accessLogOf(config.log)
  const serverLog = child('server')
  const tlsFiles = certificateFilesOf(config.tls)
  const listenerOptions: Omit<ProxyServerOptions, 'pipeline' | 'transport'> = {
    log: serverLog,
    reusePort: listensOnOwnSocket(config),
    clock,
    maxHeaderBytes: config.server.maxHeaderBytes,
    maxHeaderCount: config.server.maxHeaderCount,
    maxUriBytes: config.server.maxUriBytes,
    maxBodyBytes: config.server.maxBodyBytes,
    headersTimeoutMs: config.server.headersTimeout,
    requestTimeoutMs: config.server.requestTimeout,
    keepAliveTimeoutMs: config.server.keepAliveTimeout,
    maxConnections: config.server.maxConnections,
    backlog: config.server.backlog,
    onRapidReset: () => publish(events.http2RapidReset, {}),
    upgrades: config.server.upgrades.enabled
      ? {
          pipeline: upgradePipeline,
          idleTimeoutMs: config.server.upgrades.idleTimeout,
          maxTunnels: config.server.upgrades.maxTunnels,
        }
      : undefined,
    proxyProtocol: config.server.proxyProtocol.enabled
      ? {
          allow: createAddressList(
            config.server.proxyProtocol.allow,
            (i, entry) => new Error(`server.proxyProtocol.allow[${i}]: ${String(entry)}`),
          ),
          // A balancer sends the header at once; the same bound as for a request's headers.
          timeoutMs: config.server.headersTimeout,
        }
      : undefined,
    onFinish: (ctx, status, bytes, totalMs) => {
      finishedRequests++
      publish(events.requestFinished, {
        route: ctx.facts.route,
        method: ctx.method,
        status,
        cache: ctx.facts.cache,
        collapsed: ctx.facts.collapsed,
        bytes,
        // A tunnel's request took until its 101; its life is in its access line, not in
        // the request latencies of metrics and the status page.
        totalMs: ctx.facts.tunnel?.handshakeMs ?? totalMs,
        httpVersion: ctx.httpVersion,
        scheme: ctx.scheme,
      })
      // Access lines are info lines: a quieter level leaves them out.
      if (wantsAccessLine(live.log, status) && logger.isLevelEnabled('info'))
        accessLog.write(ctx, status, bytes, totalMs)
    },
  }
  const http2Limits = {
    maxConcurrentStreams: config.http2.maxConcurrentStreams,
    maxClientResets: config.http2.maxClientResets,
  }
  // The certificates are read before any listener opens: one that does not load stops the start.
  let tlsServer: ProxyServer | undefined
  const certificates: LiveCertificates | undefined =
    tlsFiles.length === 0
      ? undefined
      : createLiveCertificates({
          sources: tlsFiles,
          clientCa: config.tls.clientCa,
          onChange: (set) => tlsServer?.setCertificates(set),
          log: child('tls'),
        })
  if (certificates !== undefined) {
    tlsServer = createProxyServer({
      ...listenerOptions,
      pipeline,
      transport: {
        kind: 'tls',
        certificates: certificates.current(),
        clientCert: config.tls.clientCert,
        http2: config.http2.enabled ? http2Limits : undefined,
      },
    })
  }
  // With tls.redirectHttp the plain listener only sends clients to https.
  const server = createProxyServer({
    ...listenerOptions,
    pipeline:
      config.tls.redirectHttp && certificates !== undefined
        ? createHttpsRedirect(config.tls.redirectPort ?? config.tls.listen.port)
        : pipeline,
  })
  const h2cServer =
    config.http2.cleartextListen === undefined
      ? undefined
      : createProxyServer({ ...listenerOptions, pipeline, transport: { kind: 'h2c', http2: http2Limits } })
  // Workers resume each other's TLS sessions with the keys the primary gives them all.
  if (tlsServer !== undefined && inWorker) {
    const tls = tlsServer
    followTicketKeys((keys) => tls.setTicketKeys(keys), {
      send: (message) => process.send?.(message),
      onMessage: (listener) => process.on('message', listener),
    })
  }
  const servers = [server, tlsServer, h2cServer].filter((s): s is ProxyServer => s !== undefined)

  let serving = false
  let finishedRequests = 0
  let stopMemoryRelease = () => {}
  // Listed on the status page and in metrics before any request has reached it.
  const firstPool = pools.names.values().next().value ?? 'default'
  const status = createStatusTracker({
    clock,
    storeStats: () => store.stats(),
    upstreamName: firstPool,
    storeName: config.storage.driver,
    storeShared: !perProcessStore,
    storePerHost: config.storage.driver === 'local',
    // The local store's file (also tiered's first tier); a memory store's bound is its config.
    storeCapacity: built.capacity ?? memoryCapacity(config.storage),
    servers: () =>
      pools.report().flatMap((pool) =>
        pool.servers.map((s) => ({
          upstream: pool.name,
          url: s.url,
          weight: s.weight,
          backup: s.backup,
          state: !s.checkedUp ? 'down' : s.ejectedUntil !== undefined ? 'ejected' : 'up',
          active: s.active,
          connections: s.connections,
          ejections: s.ejections,
          lastError: s.lastError ?? null,
          lastAt: s.lastCheck ?? null,
        })),
      ),
    version: packageVersion(),
  })
  // In a cluster worker /status answers with the sum over workers, through the primary.
  const statusSource = createClusterStatus(status)
  const metrics = createMetrics({
    storeStats: () => store.stats(),
    storeUp: () => built.state().state !== 'down',
    storeName: config.storage.driver,
    storePerHost: config.storage.driver === 'local',
    storeCapacity: built.capacity,
    upstreamName: firstPool,
    pools: {
      pools: [...pools.names],
      servers: () =>
        pools.report().flatMap((pool) =>
          pool.servers.map((s) => ({
            upstream: pool.name,
            server: s.url,
            available: s.available,
            active: s.active,
          })),
        ),
    },
    fillLocks: built.fills !== undefined,
    traffic: () => {
      let inFlight = 0
      let connections = 0
      let tunnels = 0
      for (const s of servers) {
        const t = s.traffic()
        inFlight += t.inFlight
        connections += t.connections
        tunnels += t.tunnels
      }
      return { inFlight, connections, tunnels }
    },
    version: packageVersion(),
  })
  // In a cluster worker /metrics answers with the sum over workers, through the primary.
  const scrape = createClusterMetrics(metrics)
  const readiness = (): Readiness => {
    const upstreamsUp = pools.isReady()
    const storeUp = built.state().state === 'up'
    // Serving stale, or from the store, beats being pulled from the load balancer: a down
    // backend or store says `degraded` and stays 200 unless told otherwise.
    const ready = serving && (upstreamsUp || !live.readiness.requireUpstream)
    return {
      ready,
      report: {
        status: !serving ? 'starting' : upstreamsUp && storeUp ? 'ready' : 'degraded',
        stores: [{ name: config.storage.driver, ...built.state(), ...store.stats(), ...built.capacity?.() }],
        upstreams: pools.report().map((pool) => ({
          ...pool,
          servers: pool.servers.map((server) => ({
            ...server,
            lastCheck: server.lastCheck === undefined ? null : new Date(server.lastCheck).toISOString(),
            lastError: server.lastError ?? null,
            ejectedUntil:
              server.ejectedUntil === undefined ? null : new Date(server.ejectedUntil).toISOString(),
          })),
        })),
        worker: {
          pid: process.pid,
          id: cluster.isWorker ? (cluster.worker?.id ?? null) : null,
          workers: config.workers,
        },
      },
    }
  }
  /** This worker's part of a reload: everything checked first, then applied at once. */
  const reloadHere: ApplyReload = (scope, trigger) => {
    const refused = (problems: readonly string[]): WorkerReload => {
      reloadLog.error({ trigger, scope, problems }, 'reload refused, keeping what is in force')
      return { ok: false, restartNeeded: [], problems, routes: routes.current().size }
    }
    let next = live
    if (scope === 'config' && deps.loadConfig !== undefined) {
      try {
        next = deps.loadConfig()
      } catch (err) {
        return refused(problemsOf(err))
      }
    }
    // Without a route file a config reload has no routes to reload; a routes reload says so.
    const routed = scope === 'config' && config.routes === undefined ? undefined : routes.reload(trigger)
    if (routed?.ok === false) return refused(routed.problems)
    // Compared with the config as started: a field that needs a restart stays listed until one.
    // Certificates are read again at every config reload (their paths may change too): a
    // set that does not load refuses the reload, and the set in force stays.
    if (scope === 'config' && certificates !== undefined && next !== live) {
      const problems = certificates.reload(certificateFilesOf(next.tls), next.tls.clientCa, trigger)
      if (problems.length > 0) return refused(problems)
    }
    const { restartNeeded } = configChanges(config, next)
    live = next
    for (const log of children) log.level = next.log.level
    accessLog = accessLogOf(next.log)
    if (scope === 'config') reloadLog.info({ trigger, restartNeeded }, 'config reloaded')
    return { ok: true, restartNeeded, problems: [], routes: routes.current().size }
  }
  const reloadLog = child('reload')
  const reloadAll = createReloader(
    reloadHere,
    inWorker
      ? {
          send: (message) => process.send?.(message),
          onMessage: (listener) => process.on('message', listener),
        }
      : undefined,
  )

  const admin = createAdminServer({
    readiness,
    invalidator,
    tokens: () => live.admin.tokens,
    log: child('admin'),
    status: statusSource,
    metrics: scrape,
    reload: (scope, trigger) => reloadAll(scope, trigger),
  })

  return {
    store,
    logger,
    collapsing: () => ({
      keys: collapser.size,
      waiting: collapser.waiting,
      waitingOnOthers: sharedCollapser.waiting,
    }),
    reload: (scope, trigger) => reloadAll(scope, trigger),
    reopenLogs: () => logging.output.reopen(),
    async listen() {
      const { host, port } = config.listen
      const proxy = await server.listen(host, port).catch((err: unknown) => {
        throw listenError('proxy', host, port, err)
      })
      const tlsAt = config.tls.listen
      const tls = await tlsServer?.listen(tlsAt.host, tlsAt.port).catch((err: unknown) => {
        throw listenError('tls', tlsAt.host, tlsAt.port, err)
      })
      const h2cAt = config.http2.cleartextListen
      const h2c =
        h2cAt === undefined
          ? undefined
          : await h2cServer?.listen(h2cAt.host, h2cAt.port).catch((err: unknown) => {
              throw listenError('h2c', h2cAt.host, h2cAt.port, err)
            })
      const adminAt = config.admin.listen
      const adminAddress = await admin.listen(adminAt.host, adminAt.port).catch((err: unknown) => {
        throw listenError('admin', adminAt.host, adminAt.port, err)
      })
      serving = true
      stopMemoryRelease = releaseMemoryWhenQuiet({
        windowMs: config.server.idleMemoryRelease,
        finishedRequests: () => finishedRequests,
        onReleased: (released) => logger.debug(released, 'memory given back'),
      })
      logger.info(
        {
          proxy,
          ...(tls === undefined ? {} : { tls, certificates: certificates?.current().names }),
          ...(h2c === undefined ? {} : { h2c }),
          admin: adminAddress,
          upstream: upstreamUrl,
          upstreams: [...pools.names],
        },
        'edgecache listening',
      )
      return {
        proxy,
        admin: adminAddress,
        ...(tls === undefined ? {} : { tls }),
        ...(h2c === undefined ? {} : { h2c }),
      }
    },
    async close() {
      serving = false
      stopMemoryRelease()
      routes.close()
      certificates?.close()
      await Promise.all([...servers.map((s) => s.close(config.server.shutdownTimeout)), admin.close()])
      statusSource.close()
      status.close()
      scrape.close()
      metrics.close()
      await pools.close()
      await built.close()
      // Last: the access lines of the requests just finished are written before the exit.
      await logging.output.flush()
    },
  }
}

/** Access lines are sampled; a 5xx answer is always logged, since those are what get looked for. */
function wantsAccessLine(log: Config['log'], status: number): boolean {
  if (!log.access) return false
  return status >= 500 || log.accessSample >= 1 || Math.random() < log.accessSample
}

/** The RFC 9111 engine's admission settings from `cache.*`, made once per config in force. */
const admissions = new WeakMap<CacheConfig, AdmissionOptions>()
function admissionOf(cache: CacheConfig): AdmissionOptions {
  let admission = admissions.get(cache)
  if (admission === undefined) {
    admission = {
      heuristicFraction: cache.heuristicFraction,
      maxHeuristicTtlMs: cache.maxHeuristicTtl,
      targetedFields: [cache.targetedField, 'cdn-cache-control'],
      // edgecache's own field is for edgecache alone; CDN-Cache-Control may be for a CDN in front.
      consumedFields: cache.stripCdnCacheControl
        ? [cache.targetedField, 'cdn-cache-control']
        : [cache.targetedField],
      storeSetCookie: false,
    }
    admissions.set(cache, admission)
  }
  return admission
}

function problemsOf(err: unknown): readonly string[] {
  if (err instanceof ProblemsError) return err.problems
  return [err instanceof Error ? err.message : String(err)]
}

/** A memory store's bound, per worker, for the status page; other stores report their own or have none. */
function memoryCapacity(storage: Config['storage']): (() => { maxBytes: number }) | undefined {
  if (storage.driver !== 'memory') return undefined
  const { maxBytes } = storage.memory
  return () => ({ maxBytes })
}

/** edgecache's version, from its package.json (one directory above src/ and dist/). */
function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8')
  return (JSON.parse(text) as { version: string }).version
}

/** The clients whose refresh directives always count, made once per config in force. */
const refreshers = new WeakMap<CacheConfig, AddressList>()
function refreshersOf(cache: CacheConfig): AddressList {
  let list = refreshers.get(cache)
  if (list === undefined) {
    list = createAddressList(
      cache.refreshFrom,
      (i, entry) => new Error(`cache.refreshFrom[${i}]: ${String(entry)}`),
    )
    refreshers.set(cache, list)
  }
  return list
}
