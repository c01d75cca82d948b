/**
 * A public listener: plain HTTP/1.1, TLS (HTTP/1.1 and HTTP/2 chosen by ALPN), or cleartext
 * HTTP/2 with prior knowledge. It accepts connections, enforces the size limits and
 * timeouts, gives each request an id and a RequestContext, hands it to the pipeline and
 * writes the Answer back. Knows nothing of caching; per-request work lives in exchange.ts,
 * HTTP/2's session limits in http2-sessions.ts.
 */
import { createServer, type Server as HttpServer } from 'node:http'
import { createServer as createH2cServer, createSecureServer } from 'node:http2'
import type { AddressInfo, Server, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { type Clock, systemClock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'
import type { Pipeline } from '../pipeline/compose.ts'
import type { RequestContext } from '../pipeline/context.ts'
import { type CertificateSet, contextDefaults } from './certificates.ts'
import { verifiedSubjectOf } from './client-cert.ts'
import { type DirectConnections, directConnections } from './direct-http1.ts'
import {
  Exchange,
  type ExchangeShared,
  exchangeOn,
  type ServerReply,
  type ServerRequest,
} from './exchange.ts'
import { guardSessions, type Http2Limits } from './http2-sessions.ts'
import { acceptProxyProtocol, type ProxyProtocolOptions } from './proxy-protocol-listener.ts'
import { errorOfClientError, rawRefusal } from './refusal.ts'
import { nextRequestId } from './request-id.ts'
import { createUpgrades, type UpgradeOptions } from './upgrade.ts'

/** Where the listener reports what goes wrong; a child logger in practice. */
export interface ProxyServerLog {
  error(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** What the listener speaks. */
export type Transport =
  | { readonly kind: 'http' }
  /** HTTP/2 with prior knowledge, without TLS (RFC 9113 §3.3); no HTTP/1.1 on it. */
  | { readonly kind: 'h2c'; readonly http2: Http2Limits }
  | {
      readonly kind: 'tls'
      readonly certificates: CertificateSet
      /** Ask for a client certificate at the handshake, and whether one is required. */
      readonly clientCert: 'none' | 'request' | 'require'
      /** HTTP/2 offered through ALPN beside HTTP/1.1; undefined: HTTP/1.1 only. */
      readonly http2: Http2Limits | undefined
    }

export interface ProxyServerOptions {
  /** Answers each request; compose.ts builds it. */
  readonly pipeline: Pipeline
  /** @default { kind: 'http' } */
  readonly transport?: Transport
  readonly log: ProxyServerLog
  /** @default systemClock */
  readonly clock?: Clock
  /** Largest request line plus header block, in bytes; more gets 431. */
  readonly maxHeaderBytes: number
  /** Most header field lines in a request; more gets 431. */
  readonly maxHeaderCount: number
  /** Longest request target, in bytes; longer gets 414. Counts towards maxHeaderBytes too. */
  readonly maxUriBytes: number
  /** Largest request body, in bytes: a longer Content-Length gets 413 unread, a longer chunked body fails. */
  readonly maxBodyBytes: number
  /** Time from connection or the previous response to a request's complete header block; then 408. */
  readonly headersTimeoutMs: number
  /** Time for a whole request, body included, to arrive; then 408. 0 disables it. */
  readonly requestTimeoutMs: number
  /**
   * How long an idle keep-alive connection stays open, as advertised in `Keep-Alive`. node
   * waits 1 s more before closing, so that clients close first. 0 keeps it until the client closes.
   */
  readonly keepAliveTimeoutMs: number
  /** Most open connections; more are closed on arrival. 0 means no limit. */
  readonly maxConnections: number
  /** Length of the kernel's queue of connections not yet accepted. */
  readonly backlog: number
  /**
   * Listen on a socket of this process's own, beside the other workers' on the same port
   * (SO_REUSEPORT, Linux): the kernel then spreads new connections evenly over the workers
   * instead of giving each to whichever wakes first. Not for port 0, where each process
   * would get a port of its own. @default false
   */
  readonly reusePort?: boolean
  /** Told each time an HTTP/2 connection is closed for cancelling too many streams. */
  readonly onRapidReset?: () => void
  /**
   * Called once per request, when its response has finished or its client has gone:
   * the status sent (499 if none was), body bytes handed to the socket, and ms since arrival.
   */
  readonly onFinish?: (ctx: RequestContext, status: number, bytes: number, totalMs: number) => void
  /**
   * Tunnels Upgrade requests (WebSockets) through their own pipeline (upgrade.ts); they
   * also get `onFinish`, once their tunnel has closed. @default none: answered as plain requests
   */
  readonly upgrades?: UpgradeOptions
  /** Reads a PROXY protocol header ahead of each connection (proxy-protocol-listener.ts). @default off */
  readonly proxyProtocol?: Omit<ProxyProtocolOptions, 'log'>
}

export interface ProxyServer {
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(host: string, port: number): Promise<{ host: string; port: number }>
  /**
   * Stops accepting, closes idle connections at once, lets requests in flight finish
   * (their connections close after the response) and destroys what is left after
   * `timeoutMs`. Resolves when every connection has closed; calling it again returns the
   * same promise.
   */
  close(timeoutMs: number): Promise<void>
  readonly server: Server
  /** Requests received and not yet finished, client connections and tunnels open, right now. */
  traffic(): { readonly inFlight: number; readonly connections: number; readonly tunnels: number }
  /**
   * TLS only: serves `certificates` to new handshakes; connections open keep theirs, so a
   * renewed certificate drops nobody.
   */
  setCertificates(certificates: CertificateSet): void
  /**
   * TLS only: encrypts and reads session tickets with `keys` (48 bytes), so that workers
   * given the same keys resume each other's sessions (cluster-ticket-keys.ts).
   */
  setTicketKeys(keys: Buffer): void
}

/**
 * Creates the public listener. Nothing is bound until `listen`.
 *
 * @example
 * const proxy = createProxyServer({
 *   pipeline: compose(stages, log),
 *   log,
 *   maxHeaderBytes: 16384, maxHeaderCount: 100, maxUriBytes: 8192, maxBodyBytes: 10 * 1024 * 1024,
 *   headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000,
 *   maxConnections: 0, backlog: 511,
 *   onFinish: (ctx, status, bytes, totalMs) => log.info({ reqId: ctx.id, status, bytes, totalMs }, 'request'),
 * })
 * await proxy.listen('0.0.0.0', 8080)
 */
export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  checkOptions(options)
  const { log, maxHeaderBytes } = options
  const transport = options.transport ?? { kind: 'http' }
  const http2 = transport.kind === 'http' ? undefined : transport.http2
  const guard =
    http2 === undefined
      ? undefined
      : guardSessions({
          ...http2,
          idleTimeoutMs: options.keepAliveTimeoutMs,
          clock: options.clock ?? systemClock,
          log,
          onRapidReset: options.onRapidReset,
        })
  const shared: ExchangeShared = {
    pipeline: options.pipeline,
    scheme: transport.kind === 'tls' ? 'https' : 'http',
    clientSubject:
      transport.kind === 'tls' && transport.clientCert !== 'none' ? verifiedSubjectOf : undefined,
    log,
    clock: options.clock ?? systemClock,
    maxHeaderCount: options.maxHeaderCount,
    maxUriBytes: options.maxUriBytes,
    maxBodyBytes: options.maxBodyBytes,
    onFinish: options.onFinish,
    closing: false,
    inFlight: 0,
    onIdle: undefined,
  }

  const upgrades = options.upgrades === undefined ? undefined : createUpgrades(options.upgrades, shared)
  const http1Options = {
    maxHeaderSize: maxHeaderBytes,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(options.headersTimeoutMs, options.requestTimeoutMs),
    // Checked in exchange.ts instead, so the 400 has a body and a request id, and so
    // repeated Host lines are refused too.
    requireHostHeader: false,
    // Without upgrades node answers an Upgrade request as a plain one (its default with no
    // `upgrade` listener); with them, upgrade.ts says which it tunnels.
    ...(upgrades !== undefined && { shouldUpgradeCallback: upgrades.accepts }),
  }
  const http2Options =
    http2 === undefined
      ? {}
      : {
          settings: {
            maxConcurrentStreams: http2.maxConcurrentStreams,
            // HPACK's size (RFC 7541 §4.1): each field's name and value plus 32 bytes.
            maxHeaderListSize: maxHeaderBytes + 32 * options.maxHeaderCount,
          },
          // node refuses a stream past this many fields itself; exchange.ts names the limit below it.
          maxHeaderListPairs: options.maxHeaderCount + 8,
          // nghttp2's own limit on the client's RST_STREAM frames (CVE-2023-44487): past the
          // burst, at most this rate, or the session ends with GOAWAY. Twice edgecache's own
          // count of cancelled requests (http2-sessions.ts), which so acts first where it can;
          // nghttp2's also covers resets of streams that never became requests.
          streamResetBurst: http2.maxClientResets * 2,
          streamResetRate: Math.max(1, Math.ceil(http2.maxClientResets / 5)),
        }
  let tlsServer: ReturnType<typeof createSecureServer> | undefined
  let certificates = transport.kind === 'tls' ? transport.certificates : undefined
  let ticketKeys: Buffer | undefined
  let server: Server
  if (transport.kind === 'tls') {
    tlsServer = createSecureServer({
      ...contextDefaults,
      ...(transport.certificates.defaultPem as { cert: string; key: string; ca?: string }),
      allowHTTP1: true,
      ALPNProtocols: transport.http2 === undefined ? ['http/1.1'] : ['h2', 'http/1.1'],
      SNICallback: (servername, callback) => callback(null, certificates?.contextFor(servername)),
      requestCert: transport.clientCert !== 'none',
      rejectUnauthorized: transport.clientCert === 'require',
      // A handshake is part of a request's arrival: the same bound as its header section.
      handshakeTimeout: options.headersTimeoutMs,
      http1Options,
      ...http2Options,
    })
    // node's own listener re-emits it as a clientError, which would answer in HTTP/1.1
    // bytes on a socket that never finished its handshake.
    tlsServer.removeAllListeners('tlsClientError')
    tlsServer.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // Scanners and clients that give up are routine: a line each, without a stack.
      log.warn({ code: err.code, remoteAddress: socket.remoteAddress }, 'tls handshake failed')
      socket.destroy()
    })
    server = tlsServer
  } else if (transport.kind === 'h2c') {
    server = createH2cServer(http2Options)
  } else {
    const plain = createServer(http1Options)
    // No count limit in node's parser: from Node 24 it refuses too many fields as a header
    // overflow, which reads as too many bytes. exchange.ts counts the fields and names the
    // limit; maxHeaderSize still bounds the parser's work.
    plain.maxHeadersCount = 0
    server = plain
  }
  const http1 = server as HttpServer
  if (transport.kind === 'tls') http1.maxHeadersCount = 0
  // HTTP/1.1 connections, plain or over TLS, start below node:http, which takes each over
  // when a request or an answer is not one direct-http1.ts handles.
  const direct =
    transport.kind === 'h2c' ? undefined : readDirect(http1, shared, options, transport.kind === 'tls')
  // First, so that node's HTTP parser meets the connection only after the header is read.
  if (options.proxyProtocol !== undefined) acceptProxyProtocol(server, { ...options.proxyProtocol, log })
  if (options.maxConnections > 0) server.maxConnections = options.maxConnections
  if (guard !== undefined) server.on('session', guard.session)

  server.on('request', (req: ServerRequest, res: ServerReply) =>
    new Exchange(req, res, shared, false).start(),
  )
  // Without this listener node sends `100 Continue` before anyone has looked at the
  // request; with it, RequestBody sends it when the pipeline first reads the body.
  server.on('checkContinue', (req: ServerRequest, res: ServerReply) =>
    new Exchange(req, res, shared, true).start(),
  )
  if (upgrades !== undefined) server.on('upgrade', upgrades.handle)

  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const current = exchangeOn(socket)
    // The request being received broke off (body timeout, bad chunk): answered as any other
    // refusal, if it can still be answered.
    if (current !== undefined && !current.requestComplete) {
      current.refuse(errorOfClientError(err, maxHeaderBytes))
      return
    }
    const refusal = errorOfClientError(err, maxHeaderBytes)
    const reqId = nextRequestId()
    // err itself carries the client's raw bytes (rawPacket); only its code is logged.
    log.warn({ reqId, code: err.code, status: refusal.status }, 'malformed request refused')
    const refuse = () => {
      if (socket.writable) socket.end(rawRefusal(refusal, reqId), () => socket.destroy())
      else socket.destroy()
    }
    // A later pipelined request is malformed: the ones before it are answered first (bytes
    // written now would land inside their responses), then it is refused and the
    // connection closed. node reads nothing more from it meanwhile.
    if (current !== undefined) current.afterResponse(refuse)
    else refuse()
  })

  // CONNECT asks for a tunnel, which a reverse proxy does not offer; node would only drop it.
  server.on('connect', (_req, socket: Duplex) => {
    const err = new EdgecacheError('EC_ERR_REQUEST_BAD', ['request target must start with /'])
    socket.end(rawRefusal(err, nextRequestId()), () => socket.destroy())
  })

  server.on('drop', (data) => {
    log.warn(
      { remoteAddress: data?.remoteAddress, maxConnections: server.maxConnections },
      'connection dropped',
    )
  })

  // Failing to bind rejects listen(); this is for the listener failing later (accept errors).
  server.on('error', (err) => {
    if (server.listening) log.error({ err }, 'proxy listener failed')
  })

  // Counted here rather than with server.getConnections(), which is asynchronous. A TLS
  // server's 'connection' is the TCP connection, before the handshake.
  let connections = 0
  server.on('connection', (socket: Duplex) => {
    connections++
    socket.once('close', () => {
      connections--
    })
  })

  let closed: Promise<void> | undefined

  return {
    server,
    traffic: () => ({ inFlight: shared.inFlight, connections, tunnels: upgrades?.open() ?? 0 }),
    setCertificates(next) {
      if (tlsServer === undefined) return
      certificates = next
      tlsServer.setSecureContext({
        ...contextDefaults,
        ...(next.defaultPem as { cert: string; key: string; ca?: string }),
        // A new context would otherwise make keys of its own: every ticket out there void.
        ...(ticketKeys === undefined ? {} : { ticketKeys }),
      })
    },
    setTicketKeys(keys) {
      if (tlsServer === undefined) return
      ticketKeys = keys
      tlsServer.setTicketKeys(keys)
    },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        const ownSocket = options.reusePort === true && port !== 0
        const listening = { host, port, backlog: options.backlog }
        server.listen(ownSocket ? { ...listening, exclusive: true, reusePort: true } : listening, () => {
          server.off('error', reject)
          const address = server.address() as AddressInfo
          resolve({ host: address.address, port: address.port })
        })
      })
    },
    close(timeoutMs) {
      closed ??= new Promise<void>((resolve) => {
        shared.closing = true
        // Tunnels too: node no longer counts an upgraded connection as its own.
        const deadline = setTimeout(() => {
          // HTTP/1.1 connections (node:http keeps a list), then HTTP/2 sessions.
          if (transport.kind !== 'h2c') http1.closeAllConnections()
          direct?.closeAll()
          guard?.destroyAll()
          upgrades?.closeAll()
        }, timeoutMs)
        // Done when the last connection has closed (at once, with an error, if the server
        // never listened) and, since a socket's close reaches its response a little later,
        // every request has been through onFinish.
        const done = () => {
          clearTimeout(deadline)
          resolve()
        }
        server.close(() => {
          // A tunnel reports (its access line) once both its connections have closed.
          const tunnelsDone = upgrades?.drained() ?? Promise.resolve()
          void tunnelsDone.then(() => {
            if (shared.inFlight === 0) done()
            else shared.onIdle = done
          })
        })
        // Connections between requests; those mid-request close after their response.
        // (node:http2's close() has already sent each HTTP/2 session a GOAWAY.)
        if (transport.kind !== 'h2c') http1.closeIdleConnections()
        direct?.closeIdle()
      })
      return closed
    },
  }
}

/**
 * Puts direct-http1.ts in place of node's own handling of a new HTTP/1.1 connection, which
 * it calls when it hands a connection over: node:http's `connection` listener, or over TLS
 * node:http2's `secureConnection` one (HTTP/1.1 by ALPN, or no ALPN; an HTTP/2 connection
 * goes straight to it). Must run before anything else listens for that event.
 */
function readDirect(
  server: HttpServer,
  shared: ExchangeShared,
  options: ProxyServerOptions,
  tls: boolean,
): DirectConnections {
  const event = tls ? 'secureConnection' : 'connection'
  const nodeHandlers = server.listeners(event) as ((socket: Socket) => void)[]
  server.removeAllListeners(event)
  const toNode = (socket: Socket) => {
    for (const handler of nodeHandlers) handler.call(server, socket)
  }
  const direct = directConnections({
    shared,
    limits: options,
    keepAliveBufferMs: server.keepAliveTimeoutBuffer ?? 1000,
    handOver: toNode,
    timedOut: (socket) => {
      const err = Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })
      server.emit('clientError', err, socket)
    },
  })
  server.on(event, (socket: Socket) => {
    if ((socket as TLSSocket).alpnProtocol === 'h2') toNode(socket)
    else direct.accept(socket)
  })
  return direct
}

/**
 * How often node looks for requests past headersTimeout or requestTimeout. Its default,
 * 30 s, would let a 1 s timeout run 30 s; a quarter of the shorter timeout keeps the
 * overrun under 25%, and the 1 s ceiling keeps the scan cheap with many connections.
 */
function checkingIntervalMs(headersTimeoutMs: number, requestTimeoutMs: number): number {
  const shortest = requestTimeoutMs > 0 ? Math.min(headersTimeoutMs, requestTimeoutMs) : headersTimeoutMs
  return Math.min(1000, Math.max(10, Math.floor(shortest / 4)))
}

function checkOptions(options: ProxyServerOptions): void {
  checkInteger('maxHeaderBytes', options.maxHeaderBytes, 1)
  checkInteger('maxHeaderCount', options.maxHeaderCount, 1)
  checkInteger('maxUriBytes', options.maxUriBytes, 1)
  checkInteger('maxBodyBytes', options.maxBodyBytes, 0)
  checkInteger('headersTimeoutMs', options.headersTimeoutMs, 1)
  checkInteger('requestTimeoutMs', options.requestTimeoutMs, 0)
  checkInteger('keepAliveTimeoutMs', options.keepAliveTimeoutMs, 0)
  checkInteger('maxConnections', options.maxConnections, 0)
  checkInteger('backlog', options.backlog, 1)
  if (options.requestTimeoutMs > 0 && options.headersTimeoutMs > options.requestTimeoutMs) {
    // node refuses this too, with a message that names neither option.
    throw invalid(
      `headersTimeoutMs (${options.headersTimeoutMs}) must not exceed requestTimeoutMs (${options.requestTimeoutMs})`,
    )
  }
  if (typeof options.pipeline !== 'function') throw invalid('pipeline must be a function')
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw invalid(`${name} must be an integer of at least ${min}, got ${value}`)
  }
}

function invalid(problem: string): EdgecacheError {
  return new EdgecacheError('EC_ERR_CONFIG_INVALID', [`proxy server: ${problem}`])
}
