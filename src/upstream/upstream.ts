/**
 * Forwards a request to one backend over a keep-alive undici Pool and streams the response
 * back as an Answer. It does not pick between backends, retry, cache or write to the client:
 * those belong above it. The one exception is the keep-alive race: an idempotent request
 * lost with a reused connection before any response byte is replayed once (ForwardHandler).
 * Failures become catalogued EdgecacheErrors (502 or 504).
 *
 * It drives `pool.dispatch()` with a handler of its own rather than `pool.request()`.
 * DESIGN.md measured dispatch at about half the CPU per proxied request, and the handler is
 * short: request() adds an AsyncResource, a second header parse and its own body stream,
 * none of which a proxy needs. A response that arrives whole with its header section (most
 * small ones) is answered as one Buffer, with no stream at all; otherwise the handler's
 * Readable is the only copy of the response's flow control: `read()` resumes undici and a
 * full buffer pauses it.
 */
import type { Socket } from 'node:net'
import { type Duplex, Readable } from 'node:stream'
import { rootCertificates } from 'node:tls'
import type { Dispatcher } from 'undici'
import { Pool } from 'undici'
import { EdgecacheError, type ErrorCode, errorCatalogue } from '../errors.ts'
import type { Answer } from '../pipeline/answer.ts'
import type { RequestContext } from '../pipeline/context.ts'
import { events, publish } from '../observability/events.ts'
import { expectSend, type SendWatcher } from './connection-reuse.ts'
import type { Forwarding } from './forwarding.ts'
import { withoutHopByHop } from './hop-by-hop.ts'

export interface UpstreamOptions {
  /** The backend's origin: `http://host:port` or `https://host:port`, without a path. */
  readonly url: string
  /** Most connections open to the backend at once; more requests queue. @default 64 */
  readonly connections?: number
  /** Longest wait for a TCP (and TLS) connection; past it the answer is a 504. @default 5000 */
  readonly connectTimeoutMs?: number
  /** Longest wait for the response header section once the request is sent; 0 disables. @default 60000 */
  readonly headersTimeoutMs?: number
  /** Longest gap between two chunks of the response body; 0 disables. @default 60000 */
  readonly bodyTimeoutMs?: number
  /**
   * The header and body timeouts in force now, read per request, so a config reload
   * changes them; without it, headersTimeoutMs and bodyTimeoutMs hold.
   */
  readonly timeouts?: () => { readonly headersMs: number; readonly bodyMs: number }
  /** How long an idle connection is kept when the backend sends no Keep-Alive hint. @default 4000 */
  readonly keepAliveTimeoutMs?: number
  /** The header rules for both directions (see createForwarding). */
  readonly forwarding: Forwarding
  /** The backend's name in metrics: its pool's name. @default 'default' */
  readonly name?: string
  /** The server within the pool, in events (its URL). @default the url */
  readonly server?: string
  /** For an https:// url: trusted CAs besides the system ones, SNI name, and whether to verify. */
  readonly tls?: UpstreamTls
}

export interface UpstreamTls {
  /** PEM text of CA certificates trusted besides the system ones. */
  readonly ca?: string | undefined
  /** The TLS server name (SNI) and the name the certificate must carry. @default the url's host */
  readonly servername?: string | undefined
  /** Check the server's certificate. @default true */
  readonly verify?: boolean
  /** PEM client certificate for a server that asks for one (mTLS); with `key`. */
  readonly cert?: string | undefined
  /** PEM private key of `cert`. A secret: never logged. */
  readonly key?: string | undefined
}

export interface Upstream {
  /**
   * Forwards `ctx` and resolves once the response header section has arrived. The body is
   * a Buffer when the whole response came with it, else a stream; a failure while it
   * streams (reset, body timeout) destroys it with an EdgecacheError, so a consumer never
   * mistakes a cut body for a whole one. Rejects with
   * an EdgecacheError, or with `ctx.signal.reason` when the client went away.
   */
  send(ctx: RequestContext): Promise<Answer>
  /**
   * Forwards an Upgrade request (a WebSocket handshake) as `send` does, asking the backend
   * to switch to the protocols of the request's Upgrade field. A backend that switches
   * resolves an Answer of status 101 whose `upgrade` is its connection, taken out of the
   * pool, and whose `upgrade` field names the protocol; any other answer is an ordinary one.
   */
  upgrade(ctx: RequestContext): Promise<Answer>
  /** Requests sent that have not had their response header section yet. */
  inFlight(): number
  /** Connections open to the backend now, busy or idle. */
  connections(): number
  /**
   * An active health check: GETs `path` with `host` as Host and resolves with the status,
   * or rejects (refused, reset, or no whole answer within `timeoutMs`). The body is read
   * and dropped, so the connection stays in the pool.
   */
  probe(path: string, host: string, timeoutMs: number): Promise<number>
  /** Stops taking requests and resolves when those in flight have finished. */
  close(): Promise<void>
  /** Closes every connection now; requests in flight fail. */
  destroy(): Promise<void>
}

const defaults = {
  connections: 64,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  keepAliveTimeoutMs: 4_000,
}

/** The response body buffers up to this much before undici is paused. */
const bodyHighWaterMark = 64 * 1024

/**
 * Opens a connection pool to one backend.
 *
 * @example
 * const upstream = createUpstream({
 *   url: 'http://127.0.0.1:8080',
 *   headersTimeoutMs: 30_000,
 *   forwarding: createForwarding({ trustedProxies: ['10.0.0.0/8'] }),
 * })
 * const answer = await upstream.send(ctx)
 */
export function createUpstream(options: UpstreamOptions): Upstream {
  const origin = validateUrl(options.url)
  const forwarding = options.forwarding
  const name = options.name ?? 'default'
  const server = options.server ?? origin
  // Requests sent and not yet answered with headers, for /ready.
  let inFlight = 0
  if (typeof forwarding?.requestHeaders !== 'function' || typeof forwarding.responseHeaders !== 'function') {
    throw invalid('forwarding must be the object createForwarding returns')
  }
  const connections = positiveInteger('connections', options.connections ?? defaults.connections)
  const pool = new Pool(origin, {
    connections,
    connectTimeout: positiveInteger(
      'connectTimeoutMs',
      options.connectTimeoutMs ?? defaults.connectTimeoutMs,
    ),
    headersTimeout: nonNegativeInteger(
      'headersTimeoutMs',
      options.headersTimeoutMs ?? defaults.headersTimeoutMs,
    ),
    bodyTimeout: nonNegativeInteger('bodyTimeoutMs', options.bodyTimeoutMs ?? defaults.bodyTimeoutMs),
    keepAliveTimeout: positiveInteger(
      'keepAliveTimeoutMs',
      options.keepAliveTimeoutMs ?? defaults.keepAliveTimeoutMs,
    ),
    // pipelining stays at undici's 1: a slow response would hold up every request queued
    // behind it on the same connection.
    ...(options.tls === undefined ? {} : { connect: tlsConnectOptions(options.tls) }),
  })

  const forward = (ctx: RequestContext, upgrade: string | undefined): Promise<Answer> => {
    if (ctx.signal.aborted) return Promise.reject(abortReason(ctx.signal))
    let headers: Record<string, string | string[]>
    try {
      headers = forwarding.requestHeaders(ctx)
    } catch (err) {
      return Promise.reject(err)
    }
    const sentAt = performance.now()
    const answer = new Promise<Answer>((resolve, reject) => {
      const timeouts = options.timeouts?.()
      const request: Dispatcher.DispatchOptions = {
        method: ctx.method,
        path: ctx.target,
        headers,
        body: ctx.body ?? null,
        ...(timeouts && { headersTimeout: timeouts.headersMs, bodyTimeout: timeouts.bodyMs }),
        // undici writes `connection: upgrade` and this as `upgrade:` itself.
        ...(upgrade !== undefined && { upgrade }),
      }
      // An upgrade is never replayed: its connection becomes the tunnel's.
      const replay =
        upgrade === undefined && mayReplay(ctx)
          ? () => {
              if (ctx.signal.aborted) {
                reject(abortReason(ctx.signal))
                return
              }
              publish(events.upstreamReplay, { upstream: name, server })
              pool.dispatch(request, new ForwardHandler(ctx, forwarding, resolve, reject, undefined))
            }
          : undefined
      // undici reports its own synchronous failures to handler.onResponseError.
      pool.dispatch(request, new ForwardHandler(ctx, forwarding, resolve, reject, replay))
    })
    inFlight++
    const settled = () => {
      inFlight--
    }
    answer.then(settled, settled)
    if (!events.upstreamFinished.hasSubscribers) return answer
    return answer.then(
      (result) => {
        publish(events.upstreamFinished, {
          upstream: name,
          server,
          status: result.status,
          durationMs: performance.now() - sentAt,
          error: undefined,
        })
        return result
      },
      (err: unknown) => {
        const error = errorKind(err)
        if (error !== undefined) {
          publish(events.upstreamFinished, {
            upstream: name,
            server,
            status: undefined,
            durationMs: performance.now() - sentAt,
            error,
          })
        }
        throw err
      },
    )
  }

  return {
    send: (ctx) => forward(ctx, undefined),
    upgrade(ctx) {
      const field = ctx.headers.upgrade
      const protocols = typeof field === 'string' ? field : field?.join(', ')
      if (protocols === undefined || protocols === '') {
        return Promise.reject(new EdgecacheError('EC_ERR_REQUEST_BAD', ['upgrade without an Upgrade field']))
      }
      return forward(ctx, protocols)
    },
    inFlight: () => inFlight,
    connections: () => pool.stats.connected,
    async probe(path, host, timeoutMs) {
      const signal = AbortSignal.timeout(timeoutMs)
      const response = await pool.request({
        method: 'GET',
        path,
        headers: { host, 'user-agent': 'edgecache-health-check' },
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
      await response.body.dump()
      return response.statusCode
    },
    async close() {
      if (pool.destroyed) return
      await pool.close()
    },
    async destroy() {
      if (pool.destroyed) return
      await pool.destroy()
    },
  }
}

/** RFC 9110 §9.2.2: methods a client may repeat with the same effect. */
const idempotent: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** True for a method RFC 9110 §9.2.2 calls idempotent (upper case). */
export function isIdempotent(method: string): boolean {
  return idempotent.has(method)
}

/**
 * An idempotent request whose body can be sent again: none, or one read whole before going
 * upstream (a Buffer). A streamed body has been consumed by the first attempt.
 */
function mayReplay(ctx: RequestContext): boolean {
  return isIdempotent(ctx.method) && (ctx.body === undefined || Buffer.isBuffer(ctx.body))
}

/**
 * How a connection that the backend closed under a request shows in undici: the peer's FIN
 * or RST as the request went out. Not `bad response` and the like, which undici also codes
 * UND_ERR_SOCKET: those follow bytes from the backend.
 */
function isConnectionLost(err: Error): boolean {
  const code = (err as { code?: unknown }).code
  if (code === 'ECONNRESET' || code === 'EPIPE') return true
  return code === 'UND_ERR_SOCKET' && !err.message.startsWith('bad ')
}

/**
 * One request's handler on undici's dispatch interface. It settles `send()`'s promise once,
 * at the response header section or at the first error, then feeds or fails the body.
 *
 * Given `replay`, it replays the request once instead of failing when undici wrote it on a
 * reused keep-alive connection and that connection was lost before any byte of the response
 * arrived: the keep-alive race, where the backend closes an idle connection as a request
 * goes out (RFC 9112 §9.3.1 lets a client retry an idempotent request then). undici checks
 * an idle connection for a close already received before it writes on it, which narrows the
 * race but cannot close it. The failed connection is gone, so the replay goes out on
 * another. It is not a retry against a failing server: the pool never sees the first
 * failure, so neither its retry budget nor the server's health counts it.
 */
class ForwardHandler implements Dispatcher.DispatchHandler, SendWatcher {
  readonly #ctx: RequestContext
  readonly #forwarding: Forwarding
  readonly #resolve: (answer: Answer) => void
  readonly #reject: (err: unknown) => void
  readonly #sentAt = performance.now()
  #controller: Dispatcher.DispatchController | undefined
  #body: Readable | undefined
  /** Body chunks that arrived before the answer was settled; undefined outside that window. */
  #early: Buffer[] | undefined
  #earlyBytes = 0
  /** The final response's header section has arrived. */
  #headed = false
  #status = 0
  #headers: Answer['headers'] | undefined
  /** `send()`'s promise has been settled. */
  #settled = false
  #ended = false
  #started = false
  /** Sends the request again; undefined once used, or when it may not be replayed. */
  #replay: (() => void) | undefined
  /** The connection the request went out on, when it was a reused one. */
  #reusedSocket: Socket | undefined
  /** Bytes read on that connection when the request went out. */
  #readAtSend = 0

  constructor(
    ctx: RequestContext,
    forwarding: Forwarding,
    resolve: (answer: Answer) => void,
    reject: (err: unknown) => void,
    replay: (() => void) | undefined,
  ) {
    this.#ctx = ctx
    this.#forwarding = forwarding
    this.#resolve = resolve
    this.#reject = reject
    this.#replay = replay
    ctx.signal.addEventListener('abort', this.#onAbort)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    this.#started = true
    // The client left while the request waited for a connection.
    if (this.#ctx.signal.aborted) {
      controller.abort(abortReason(this.#ctx.signal))
      return
    }
    if (this.#replay !== undefined) expectSend(this)
  }

  onSent(socket: Socket, reused: boolean): void {
    if (!reused) return
    this.#reusedSocket = socket
    this.#readAtSend = socket.bytesRead
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // RFC 9110 §15.2: an interim response (102, 103 Early Hints) is not the answer, and
    // nothing of it is kept: it goes on to a waiting client, if any, as it came. undici
    // itself handles 100 and 101.
    if (statusCode < 200) {
      if (!this.#headed && !this.#settled) this.#ctx.interim?.(statusCode, withoutHopByHop(headers))
      return
    }
    if (this.#headed) return
    const facts = this.#ctx.facts
    facts.upstreamStatus = statusCode
    facts.upstreamMs = performance.now() - this.#sentAt
    this.#headed = true
    this.#status = statusCode
    this.#headers = this.#forwarding.responseHeaders(headers)
    // RFC 9110 §9.3.2, §15.3.5, §15.4.5: no content after HEAD, 204 or 304. undici reads
    // none, and onResponseData drops anything stray, so the connection stays reusable.
    if (this.#ctx.method === 'HEAD' || statusCode === 204 || statusCode === 304) {
      this.#ctx.signal.removeEventListener('abort', this.#onAbort)
      this.#settle({ status: statusCode, headers: this.#headers, body: undefined })
      return
    }
    this.#early = []
    // undici hands over everything one socket read holds before returning, so by the
    // next microtask a small response has usually ended: it is then answered as one
    // Buffer, which costs far less than a stream (see #answerOnceRead).
    queueMicrotask(this.#answerOnceRead)
  }

  /**
   * The backend switched protocols: its connection, out of undici's pool now, is the
   * answer's `upgrade`. undici calls this only for a request sent with `upgrade`.
   */
  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    socket: Duplex,
  ): void {
    this.#ctx.signal.removeEventListener('abort', this.#onAbort)
    if (this.#settled) {
      // The client went away while the backend answered.
      socket.destroy()
      return
    }
    const facts = this.#ctx.facts
    facts.upstreamStatus = statusCode
    facts.upstreamMs = performance.now() - this.#sentAt
    this.#headed = true
    const answerHeaders = this.#forwarding.responseHeaders(headers)
    // Hop-by-hop, so dropped above; the server says it again on its own hop.
    const protocol = headers.upgrade
    if (protocol !== undefined) answerHeaders.upgrade = protocol
    this.#settle({ status: statusCode, headers: answerHeaders, body: undefined, upgrade: socket })
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const early = this.#early
    if (early !== undefined) {
      early.push(chunk)
      this.#earlyBytes += chunk.length
      if (this.#earlyBytes >= bodyHighWaterMark) controller.pause()
      return
    }
    const body = this.#body
    if (body === undefined || body.destroyed) return
    if (!body.push(chunk)) controller.pause()
  }

  onResponseEnd(): void {
    this.#ended = true
    this.#ctx.signal.removeEventListener('abort', this.#onAbort)
    this.#body?.push(null)
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.#ctx.signal.removeEventListener('abort', this.#onAbort)
    this.#early = undefined
    if (this.#mayReplayAfter(err)) {
      const replay = this.#replay!
      this.#replay = undefined
      // After undici has finished failing the lost connection, not from inside it.
      queueMicrotask(replay)
      return
    }
    const mapped = this.#ctx.signal.aborted
      ? abortReason(this.#ctx.signal)
      : toUpstreamError(err, this.#started)
    if (!this.#settled) {
      this.#settled = true
      this.#reject(mapped)
      return
    }
    if (this.#body !== undefined && !this.#body.destroyed) this.#body.destroy(mapped as Error)
  }

  /** The request was lost with its reused connection before any response byte (see the class). */
  #mayReplayAfter(err: Error): boolean {
    const socket = this.#reusedSocket
    return (
      this.#replay !== undefined &&
      socket !== undefined &&
      !this.#headed &&
      !this.#settled &&
      !this.#ctx.signal.aborted &&
      socket.bytesRead === this.#readAtSend &&
      isConnectionLost(err)
    )
  }

  /**
   * Answers with what arrived with the header section: the whole body as one Buffer when
   * the response has already ended, else a stream that starts with the chunks so far.
   */
  readonly #answerOnceRead = (): void => {
    const early = this.#early
    // Failed or aborted meanwhile: already rejected.
    if (early === undefined || this.#settled) return
    this.#early = undefined
    const controller = this.#controller!
    if (this.#ended) {
      const body = early.length === 1 ? early[0]! : Buffer.concat(early, this.#earlyBytes)
      this.#settle({ status: this.#status, headers: this.#headers!, body })
      return
    }
    const body = new Readable({
      highWaterMark: bodyHighWaterMark,
      read: () => controller.resume(),
      destroy: (err, callback) => {
        this.#ctx.signal.removeEventListener('abort', this.#onAbort)
        // The consumer gave up before the end: stop the transfer, and let undici close the
        // connection rather than drain a body nobody reads.
        if (!this.#ended) controller.abort(err ?? new Error('response body destroyed before its end'))
        callback(err)
      },
    })
    for (const chunk of early) body.push(chunk)
    this.#body = body
    this.#settle({ status: this.#status, headers: this.#headers!, body })
  }

  #settle(answer: Answer): void {
    this.#settled = true
    this.#resolve(answer)
  }

  readonly #onAbort = (): void => {
    const reason = abortReason(this.#ctx.signal)
    this.#early = undefined
    if (this.#body !== undefined) {
      if (!this.#body.destroyed) this.#body.destroy(reason)
      return
    }
    this.#controller?.abort(reason)
    // Not yet on a connection: answer now; onRequestStart aborts it when its turn comes.
    if (!this.#settled) {
      this.#settled = true
      this.#ctx.signal.removeEventListener('abort', this.#onAbort)
      this.#reject(reason)
    }
  }
}

/** undici's connect options for TLS; a CA given is added to Node's own roots, not put in their place. */
function tlsConnectOptions(tls: UpstreamTls): {
  ca?: string[]
  servername?: string
  cert?: string
  key?: string
  rejectUnauthorized: boolean
} {
  return {
    ...(tls.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca] }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
    rejectUnauthorized: tls.verify !== false,
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new DOMException('the request was aborted', 'AbortError')
}

/**
 * undici and socket error codes → catalogue codes. Connect timeout is a 504, as nginx
 * answers when proxy_connect_timeout expires: the backend did not answer in time.
 */
const upstreamCodes = new Map<string, ErrorCode>([
  ['ECONNREFUSED', 'EC_ERR_UPSTREAM_CONNECT'],
  ['ENOTFOUND', 'EC_ERR_UPSTREAM_CONNECT'],
  ['EAI_AGAIN', 'EC_ERR_UPSTREAM_CONNECT'],
  ['EHOSTUNREACH', 'EC_ERR_UPSTREAM_CONNECT'],
  ['ENETUNREACH', 'EC_ERR_UPSTREAM_CONNECT'],
  ['EHOSTDOWN', 'EC_ERR_UPSTREAM_CONNECT'],
  ['ENETDOWN', 'EC_ERR_UPSTREAM_CONNECT'],
  ['EADDRNOTAVAIL', 'EC_ERR_UPSTREAM_CONNECT'],
  // The pool was closed or destroyed (shutdown): no backend to reach.
  ['UND_ERR_CLOSED', 'EC_ERR_UPSTREAM_CONNECT'],
  ['UND_ERR_DESTROYED', 'EC_ERR_UPSTREAM_CONNECT'],
  ['UND_ERR_CONNECT_TIMEOUT', 'EC_ERR_UPSTREAM_TIMEOUT'],
  ['UND_ERR_HEADERS_TIMEOUT', 'EC_ERR_UPSTREAM_TIMEOUT'],
  ['UND_ERR_BODY_TIMEOUT', 'EC_ERR_UPSTREAM_TIMEOUT'],
  ['ETIMEDOUT', 'EC_ERR_UPSTREAM_TIMEOUT'],
  ['UND_ERR_SOCKET', 'EC_ERR_UPSTREAM_RESET'],
  ['ECONNRESET', 'EC_ERR_UPSTREAM_RESET'],
  ['EPIPE', 'EC_ERR_UPSTREAM_RESET'],
  ['ECONNABORTED', 'EC_ERR_UPSTREAM_RESET'],
  ['UND_ERR_HEADERS_OVERFLOW', 'EC_ERR_UPSTREAM_BAD_RESPONSE'],
  ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'EC_ERR_UPSTREAM_BAD_RESPONSE'],
  ['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'EC_ERR_UPSTREAM_BAD_RESPONSE'],
])

/**
 * The catalogued error for an undici failure. An EdgecacheError (the server failing the
 * request body, say) passes through; an error without a code is a bug and passes through
 * to become a 500; any other coded error counts as a connect failure before the request
 * reached a connection and as a reset after.
 */
function toUpstreamError(err: Error, started: boolean): unknown {
  const options = { cause: err }
  // undici 7 leaves an HTTPParserError's code undefined (it looks the number up in a map
  // from names), so the name is what identifies a response that is not HTTP/1.1.
  if (err.name === 'HTTPParserError') return new EdgecacheError('EC_ERR_UPSTREAM_BAD_RESPONSE', [], options)
  const code: unknown = (err as { code?: unknown }).code
  if (typeof code !== 'string') return err
  if (Object.hasOwn(errorCatalogue, code)) return err
  // undici ends the socket with these when a backend breaks HTTP framing (a 100 it did not
  // ask for, an upgrade nobody requested).
  if (code.startsWith('HPE_') || (code === 'UND_ERR_SOCKET' && err.message.startsWith('bad '))) {
    return new EdgecacheError('EC_ERR_UPSTREAM_BAD_RESPONSE', [], options)
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new EdgecacheError(
      'EC_ERR_REQUEST_BAD',
      ['request body length does not match content-length'],
      options,
    )
  }
  // undici refused the request as given (a target such as "*", a header value it rejects).
  if (code === 'UND_ERR_INVALID_ARG') {
    return new EdgecacheError('EC_ERR_REQUEST_BAD', ['cannot forward the request as given'], options)
  }
  const mapped = upstreamCodes.get(code) ?? (started ? 'EC_ERR_UPSTREAM_RESET' : 'EC_ERR_UPSTREAM_CONNECT')
  return new EdgecacheError(mapped, [], options)
}

function invalid(detail: string): EdgecacheError {
  return new EdgecacheError('EC_ERR_CONFIG_INVALID', [`upstream: ${detail}`])
}

function validateUrl(url: unknown): string {
  let parsed: URL
  try {
    parsed = new URL(String(url))
  } catch {
    throw invalid(`url must be an http:// or https:// origin, got ${JSON.stringify(url)}`)
  }
  const bare = parsed.pathname === '/' && parsed.search === '' && parsed.hash === ''
  if (
    typeof url !== 'string' ||
    (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ||
    !bare ||
    parsed.username !== '' ||
    parsed.password !== ''
  ) {
    throw invalid(
      `url must be an http:// or https:// origin without path or credentials, got ${JSON.stringify(url)}`,
    )
  }
  return parsed.origin
}

function positiveInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${field} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function nonNegativeInteger(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} must be a non-negative integer, got ${String(value)}`)
  }
  return value
}

/** The metrics kind of an upstream failure; undefined for a client that went away. */
export function errorKind(err: unknown): 'refused' | 'reset' | 'timeout' | 'bad-response' | undefined {
  switch ((err as { code?: unknown })?.code) {
    case 'EC_ERR_UPSTREAM_CONNECT':
      return 'refused'
    case 'EC_ERR_UPSTREAM_RESET':
      return 'reset'
    case 'EC_ERR_UPSTREAM_TIMEOUT':
      return 'timeout'
    case 'EC_ERR_UPSTREAM_BAD_RESPONSE':
      return 'bad-response'
    default:
      return undefined
  }
}
