/**
 * One request on the public listener, from arrival to the last byte: checks it against the
 * limits, builds its RequestContext, runs the pipeline and writes the Answer to the client.
 * Knows nothing of caching; it is on every request's path, so it does little per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import type { Duplex, Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Clock } from '../clock.ts'
import { constants } from 'node:http2'
import { EdgecacheError } from '../errors.ts'
import { type Answer, type ResponseHeaders, refusalAnswer, textAnswer } from '../pipeline/answer.ts'
import type { Pipeline } from '../pipeline/compose.ts'
import { createFacts, type HeaderMap, type RequestContext } from '../pipeline/context.ts'
import { writePreparedHead } from './prepared-head.ts'
import { refusalText } from './refusal.ts'
import { RequestBody } from './request-body.ts'
import { requestIdOf } from './request-id.ts'

/** A request as node:http or node:http2's compatibility API gives it. */
export type ServerRequest = IncomingMessage | Http2ServerRequest
/** The response that goes with a ServerRequest. */
export type ServerReply = ServerResponse | Http2ServerResponse

/** What every exchange on one listener shares. */
export interface ExchangeShared {
  readonly pipeline: Pipeline
  /** `https` on the TLS listener. */
  readonly scheme: 'http' | 'https'
  /** On the TLS listener: the connection's verified client certificate subject, if any. */
  readonly clientSubject: ((socket: TLSSocket) => string | undefined) | undefined
  readonly log: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  readonly clock: Clock
  readonly maxHeaderCount: number
  readonly maxUriBytes: number
  readonly maxBodyBytes: number
  readonly onFinish:
    | ((ctx: RequestContext, status: number, bytes: number, totalMs: number) => void)
    | undefined
  /** Set once shutdown begins: every later response closes its connection. */
  closing: boolean
  /** Exchanges whose response has not closed yet. */
  inFlight: number
  /** Called when `inFlight` drops to 0. */
  onIdle: (() => void) | undefined
}

/**
 * The status `onFinish` reports when the client left before any response was started,
 * after nginx's 499 "client closed request"; no client ever receives it.
 */
export const CLIENT_CLOSED_STATUS = 499

const kExchange = Symbol('edgecache.exchange')
type TrackedSocket = Duplex & { [kExchange]?: Exchange | undefined; [kAdopted]?: Adopted | undefined }

/** What answers for a request context: its signal and its interim responses. */
export interface ContextOwner {
  signal(): AbortSignal
  interim(status: number, headers: HeaderMap): void
}

/**
 * A request read and started on a socket below node:http (direct-http1.ts) and handed to
 * node:http before its answer was written: node reads the request again and the Exchange
 * it makes takes over this context, answer and signal instead of running the pipeline.
 */
export interface Adopted {
  readonly ctx: RequestContext
  readonly answer: Promise<Answer>
  readonly controller: AbortController | undefined
  /** Interim responses that came before the hand-over, sent on by the Exchange. */
  readonly interims: readonly (readonly [number, HeaderMap])[]
}

const kAdopted = Symbol('edgecache.adopted')

/** Leaves `adopted` for the next request node:http reads on `socket`. */
export function adoptOn(socket: Duplex, adopted: Adopted): void {
  ;(socket as TrackedSocket)[kAdopted] = adopted
}

/** The request left on `socket` by `adoptOn`, once. */
function takeAdopted(socket: Duplex | null | undefined): Adopted | undefined {
  const tracked = socket as TrackedSocket | null | undefined
  const adopted = tracked?.[kAdopted]
  if (adopted !== undefined) tracked![kAdopted] = undefined
  return adopted
}

/** The fields of a request context that come from the request. */
export type ContextFields = Pick<
  RequestContext,
  | 'id'
  | 'method'
  | 'scheme'
  | 'host'
  | 'target'
  | 'httpVersion'
  | 'headers'
  | 'clientAddress'
  | 'clientSubject'
  | 'body'
  | 'receivedAt'
> & {
  /** An HTTP/1.0 client gets no interim responses. */
  readonly interims: boolean
}

/**
 * A request context answered for by `owner`. Every context is one of these, with its fields
 * in one order, so that all share one hidden class.
 */
class Context {
  readonly id: string
  readonly method: string
  readonly scheme: RequestContext['scheme']
  readonly host: string
  readonly target: string
  readonly httpVersion: string
  readonly headers: RequestContext['headers']
  readonly clientAddress: string
  readonly clientSubject: string | undefined
  readonly body: RequestContext['body']
  readonly receivedAt: number
  readonly interim: RequestContext['interim']
  readonly facts: RequestContext['facts'];
  [kExchange]: ContextOwner

  constructor(owner: ContextOwner, fields: ContextFields) {
    this.id = fields.id
    this.method = fields.method
    this.scheme = fields.scheme
    this.host = fields.host
    this.target = fields.target
    this.httpVersion = fields.httpVersion
    this.headers = fields.headers
    this.clientAddress = fields.clientAddress
    this.clientSubject = fields.clientSubject
    this.body = fields.body
    this.receivedAt = fields.receivedAt
    this.interim = fields.interims ? sendInterim : undefined
    this.facts = createFacts()
    this[kExchange] = owner
  }

  /**
   * Made on first read: an AbortController costs microseconds, more than the rest of the
   * context, and a cache hit never asks for one. A getter on the prototype, not an own
   * accessor, which would cost a property definition per request; `forwardOf` reads it.
   */
  get signal(): AbortSignal {
    return this[kExchange].signal()
  }
}

/** A request context answered for by `owner`. */
export function newContext(owner: ContextOwner, fields: ContextFields): RequestContext {
  return new Context(owner, fields)
}

/**
 * The exchange whose request was read last on `socket`, while its response is unfinished;
 * a `clientError` on the socket belongs to it when its request has not fully arrived.
 */
export function exchangeOn(socket: Duplex): Exchange | undefined {
  return (socket as TrackedSocket)[kExchange]
}

// RFC 9110 §7.2 and RFC 3986 §3.2.2: host [ ":" port ], where host is an IP literal or a
// reg-name. Checked because the Host value reaches routing and cache keys.
export const validHost = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]*)?$/

/**
 * `ctx.interim`: hands an interim response to the exchange the context came from. One
 * function shared by every context, rather than a closure made per request.
 */
function sendInterim(this: RequestContext, status: number, headers: HeaderMap): void {
  ;(this as RequestContext & { [kExchange]: ContextOwner })[kExchange].interim(status, headers)
}

/**
 * RFC 9113 §8.2.2: fields that are only about an HTTP/1.1 connection, which an HTTP/2
 * message must not carry (a client treats one as malformed).
 */
const connectionSpecific = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']

/** A request in flight on the public listener; `start()` runs it. */
export class Exchange implements ContextOwner {
  readonly ctx: RequestContext
  readonly #req: ServerRequest
  readonly #res: ServerReply
  /** The request came as an HTTP/2 stream (node:http2's compatibility API). */
  readonly #h2: boolean
  readonly #shared: ExchangeShared
  readonly #expectsContinue: boolean
  readonly #refusal: EdgecacheError | undefined
  /** Its answer, when it was started below node:http (direct-http1.ts). */
  readonly #adopted: Adopted | undefined
  #controller: AbortController | undefined
  /** The client went away before its response finished. */
  #clientGone = false
  /** A response (answer or refusal) has been started; later ones are dropped. */
  #answered = false
  /** #onClose has run. */
  #closed = false
  #bytes = 0
  #body: RequestBody | undefined

  constructor(req: ServerRequest, res: ServerReply, shared: ExchangeShared, expectsContinue: boolean) {
    this.#req = req
    this.#res = res
    this.#shared = shared
    this.#expectsContinue = expectsContinue
    // By what carried it, not the version it names: an HTTP/1.1 request line may say
    // HTTP/2.0 (refused below, 505).
    const h2 = req instanceof Http2ServerRequest
    this.#h2 = h2
    const adopted = h2 ? undefined : takeAdopted(req.socket)
    this.#adopted = adopted
    if (adopted !== undefined) {
      // Checked, counted and started below node:http already.
      this.#refusal = undefined
      this.#controller = adopted.controller
      ;(adopted.ctx as RequestContext & { [kExchange]: ContextOwner })[kExchange] = this
      this.ctx = adopted.ctx
    } else {
      const headers = req.headers
      const refusal = refusalOf(req, shared, h2)
      this.#refusal = refusal
      // RFC 9113 §8.3.1: an HTTP/2 request names its host in :authority (Host only from an
      // HTTP/1.1 gateway, and then the same: refusalOf checks).
      const host = h2 ? (headers[':authority'] ?? headers.host) : headers.host
      const socket = h2 ? (req as Http2ServerRequest).stream.session?.socket : req.socket
      const url = req.url ?? '/'
      const absolute = h2 || url.charCodeAt(0) === 47 ? undefined : absoluteForm(url)
      this.ctx = newContext(this, {
        id: requestIdOf(headers['x-request-id']),
        method: req.method ?? 'GET',
        scheme: shared.scheme,
        host: absolute?.host ?? (typeof host === 'string' ? host.toLowerCase() : ''),
        target: absolute?.target ?? url,
        httpVersion: req.httpVersion,
        headers,
        clientAddress: socket?.remoteAddress ?? '',
        clientSubject:
          shared.clientSubject === undefined || socket === undefined
            ? undefined
            : shared.clientSubject(socket as TLSSocket),
        body: refusal === undefined && hasBody(req, h2) ? this.#bodyOf(req, shared.maxBodyBytes) : undefined,
        receivedAt: shared.clock.now(),
        // RFC 9110 §15.2: a server must not send a 1xx to an HTTP/1.0 client.
        interims: h2 || req.httpVersionMinor >= 1,
      })
      shared.inFlight += 1
    }
    // A clientError is about an HTTP/1.1 connection; an HTTP/2 session has many streams.
    if (!h2) (req.socket as TrackedSocket)[kExchange] = this
    res.on('close', this.#onClose)
    req.on('close', this.#onRequestClose)
  }

  /** True once the whole request, body included, has been received. */
  get requestComplete(): boolean {
    return this.#req.complete
  }

  /** Calls `then` once this request's response is done with, sent or cut (at once if it is). */
  afterResponse(then: () => void): void {
    const res = this.#res
    if (this.#closed || res.writableFinished || res.destroyed) then()
    else res.once('close', then)
  }

  /** Refuses the request if it broke a limit, else hands it to the pipeline. */
  start(): void {
    if (this.#refusal !== undefined) {
      this.refuse(this.#refusal)
      return
    }
    let answer: Promise<Answer>
    const adopted = this.#adopted
    if (adopted !== undefined) {
      for (const [status, headers] of adopted.interims) this.interim(status, headers)
      answer = adopted.answer
    } else {
      try {
        answer = this.#shared.pipeline(this.ctx)
      } catch (err) {
        this.#onRejected(err)
        return
      }
    }
    answer.then(
      (value) => this.#onAnswer(value),
      (err: unknown) => this.#onRejected(err),
    )
  }

  /**
   * Answers with a short refusal and closes the connection, whatever the pipeline is doing.
   * Once a response has started there is no way to say it, so the connection is cut.
   */
  refuse(err: EdgecacheError): void {
    if (this.#clientGone) return
    if (this.#answered) {
      this.#cut()
      return
    }
    this.#write(textAnswer(err.status ?? 400, refusalText(err, this.ctx.id)), true)
    // A refused body will not be read on: the pipeline's reader learns why.
    this.#body?.abandon(err)
  }

  /**
   * RFC 9110 §15.2: sends the origin's 102 (Processing) or 103 (Early Hints) on, before the
   * answer; too late once the answer has started, and pointless once the client has gone.
   * Other 1xx codes are not passed on: 100 is edgecache's own to send (it answers Expect
   * itself), 101 opens a tunnel (upgrade.ts), and the rest have no meaning it knows.
   */
  interim(status: number, headers: HeaderMap): void {
    const res = this.#res
    if (this.#answered || this.#clientGone || res.headersSent) return
    if (status !== 102 && status !== 103) return
    try {
      if (this.#h2) {
        const fields: Record<string, string | string[]> = { ':status': String(status) }
        for (const [name, value] of Object.entries(headers)) {
          if (value !== undefined && !connectionSpecific.includes(name)) fields[name] = value
        }
        ;(this.#req as Http2ServerRequest).stream.additionalHeaders(fields)
      } else if (status === 103) {
        ;(res as ServerResponse).writeEarlyHints(headers as Record<string, string | string[]>)
      } else {
        ;(res as ServerResponse).writeProcessing()
      }
    } catch {
      // A Link value node refuses to write. Hints are advice and the answer still follows;
      // a line per request for an origin's habit would drown the log.
    }
  }

  /** The signal `ctx.signal` returns: aborted once the client has gone. */
  signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#clientGone) this.#controller.abort()
    }
    return this.#controller.signal
  }

  /** Ends the exchange without a proper end: the connection for HTTP/1.1, the stream alone for HTTP/2. */
  #cut(): void {
    if (this.#h2) (this.#req as Http2ServerRequest).stream.close(constants.NGHTTP2_INTERNAL_ERROR)
    else this.#req.socket.destroy()
  }

  #bodyOf(req: ServerRequest, maxBytes: number): RequestBody {
    this.#body = new RequestBody(req as ServerRequest & { readonly complete: boolean }, maxBytes, {
      onFirstRead: () => {
        if (this.#expectsContinue && !this.#res.headersSent) this.#res.writeContinue()
      },
      onTooLarge: (err) => this.refuse(err),
    })
    return this.#body
  }

  #onAnswer(answer: Answer): void {
    if (this.#answered || this.#clientGone) {
      discard(answer.body)
      return
    }
    this.#write(answer, false)
  }

  #onRejected(err: unknown): void {
    // compose.ts is the boundary that turns errors into answers; reaching here is a bug.
    this.#shared.log.error({ err, reqId: this.ctx.id }, 'pipeline rejected')
    if (this.#answered || this.#clientGone) return
    this.#write(refusalAnswer(this.ctx.id, 500, 'internal error'), false)
  }

  #write(answer: Answer, close: boolean): void {
    const res = this.#res
    // Each answer owns its header object (answer.ts), so the fields go straight onto it.
    const headers: ResponseHeaders = answer.headers
    headers['x-request-id'] = this.ctx.id
    if (this.#h2) {
      // Stored or upstream fields never carry these (forwarding drops hop-by-hop fields),
      // but an answer from anywhere must not make the client drop the stream.
      for (const name of connectionSpecific) delete headers[name]
    } else if (close || this.#shared.closing || (this.ctx.body !== undefined && !this.#req.complete)) {
      // A request body still arriving has an unknown remainder; rather than read it to keep
      // the connection, close it. Past a limit or during shutdown, close it as well. (An
      // HTTP/2 stream ends by itself, and shutdown sends GOAWAY.)
      headers.connection = 'close'
    }
    try {
      const stored = answer.storedFields
      // An answer from the cache skips writeHead's work on HTTP/1.1 where it can. node:http2's
      // compatibility response takes writeHead's arguments.
      if (
        this.#h2 ||
        stored === undefined ||
        !writePreparedHead(res as ServerResponse, answer.status, headers, stored)
      )
        (res as ServerResponse).writeHead(answer.status, headers)
    } catch (err) {
      // An invalid status or header field from a stage; node has written nothing yet.
      discard(answer.body)
      this.#shared.log.error({ err, reqId: this.ctx.id }, 'answer not writable')
      this.#write(refusalAnswer(this.ctx.id, 500, 'internal error'), close)
      return
    }
    this.#answered = true
    const body = answer.body
    if (body === undefined) {
      res.end()
    } else if (!mayHaveBody(this.ctx.method, answer.status)) {
      discard(body)
      res.end()
    } else if (Buffer.isBuffer(body)) {
      this.#bytes = body.length
      res.end(body)
    } else {
      this.#stream(body)
    }
  }

  /**
   * Streams `body` with backpressure. If the client goes away, `body` is destroyed, which
   * aborts the upstream request so nothing truncated is stored. If `body` fails, the
   * response and so the socket are destroyed: the client sees a cut-off response, never a
   * clean end. Plain `pipe` rather than stream.pipeline: pipeline makes and aborts an
   * AbortController per call, whose DOMException stack capture cost ~8% of a miss's CPU.
   */
  #stream(body: Readable): void {
    const res = this.#res
    body.on('data', (chunk: { length: number }) => {
      this.#bytes += chunk.length
    })
    body.once('error', (err: NodeJS.ErrnoException) => {
      // A premature close is the client leaving, which is no fault of ours.
      if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        this.#shared.log.warn({ err, reqId: this.ctx.id }, 'answer body failed, response cut short')
      }
      res.destroy(err)
    })
    res.once('close', () => {
      if (!body.readableEnded && !body.destroyed) body.destroy()
    })
    body.pipe(res)
  }

  /**
   * A response queued behind a pipelined one gets no 'close' when the socket dies (node
   * emits it only for the response on the socket), but its request is destroyed then.
   */
  #onRequestClose = (): void => {
    if (!this.#h2 && !this.#res.writableFinished && this.#req.socket.destroyed) this.#onClose()
  }

  #onClose = (): void => {
    if (this.#closed) return
    this.#closed = true
    const res = this.#res
    if (!res.writableFinished) {
      this.#clientGone = true
      this.#controller?.abort()
    }
    this.#body?.abandon()
    if (!this.#h2) {
      const socket = this.#req.socket as TrackedSocket
      if (socket[kExchange] === this) socket[kExchange] = undefined
    }
    const shared = this.#shared
    if (shared.onFinish !== undefined) {
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS
      try {
        shared.onFinish(this.ctx, status, this.#bytes, shared.clock.now() - this.ctx.receivedAt)
      } catch (err) {
        shared.log.error({ err, reqId: this.ctx.id }, 'onFinish failed')
      }
    }
    shared.inFlight -= 1
    if (shared.inFlight === 0) shared.onIdle?.()
  }
}

/** Why the request must be refused before the pipeline sees it, if it must (upgrade.ts asks too). */
export function refusalOf(
  req: ServerRequest,
  limits: Pick<ExchangeShared, 'maxHeaderCount' | 'maxUriBytes' | 'maxBodyBytes'>,
  h2: boolean,
): EdgecacheError | undefined {
  // RFC 9112 §2.3: node's parser takes any one-digit major version in an HTTP/1 request
  // line; only 1.x is HTTP/1 (HTTP/2 comes by ALPN or the preface, not a request line).
  if (!h2 && req.httpVersionMajor !== 1)
    return new EdgecacheError('EC_ERR_REQUEST_VERSION', [req.httpVersion])
  // node's maxHeadersCount drops the fields past its limit without a word; count them all.
  // HTTP/2's pseudo-header fields (:method, :path, :scheme, :authority) are not counted.
  const raw = req.rawHeaders
  if (raw.length > (limits.maxHeaderCount + (h2 ? 4 : 0)) * 2) {
    return new EdgecacheError('EC_ERR_REQUEST_HEADERS_TOO_LARGE', [
      `more than ${limits.maxHeaderCount} fields`,
    ])
  }
  // node decodes the target as latin1, one character per byte.
  const target = req.url ?? ''
  if (target.length > limits.maxUriBytes)
    return new EdgecacheError('EC_ERR_REQUEST_URI_TOO_LONG', [limits.maxUriBytes])
  // RFC 9112 §3.2: origin-form, `*` for OPTIONS, and absolute-form (§3.2.2) in HTTP/1.1.
  if (
    target.charCodeAt(0) !== 47 /* / */ &&
    !(target === '*' && req.method === 'OPTIONS') &&
    (h2 || absoluteForm(target) === undefined)
  ) {
    return new EdgecacheError('EC_ERR_REQUEST_BAD', ['request target must be a path or an http(s) URL'])
  }
  const hostError = h2 ? authorityErrorOf(req) : hostErrorOf(req as IncomingMessage)
  if (hostError !== undefined) return new EdgecacheError('EC_ERR_REQUEST_BAD', [hostError])
  // RFC 9112 §6.1: node undoes chunked and only chunked; a coding before it (gzip, chunked)
  // would reach the backend undone and unnamed, the body changed. 501, as the RFC asks.
  const coding = h2 ? undefined : req.headers['transfer-encoding']
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked')
    return new EdgecacheError('EC_ERR_REQUEST_TRANSFER_CODING', [coding])
  const length = req.headers['content-length']
  // Refused before a byte of the body is read; node has already checked it is all digits.
  if (length !== undefined && Number(length) > limits.maxBodyBytes) {
    return new EdgecacheError('EC_ERR_REQUEST_BODY_TOO_LARGE', [limits.maxBodyBytes])
  }
  return undefined
}

/**
 * RFC 9112 §3.2.2: a server must accept an HTTP/1.1 request target in absolute-form, and
 * then takes the host from it, not from Host. The authority (lowercased) and the
 * origin-form of an http(s) URL `target`, or undefined for anything else (a userinfo
 * part, an invalid host).
 */
export function absoluteForm(target: string): { readonly host: string; readonly target: string } | undefined {
  const scheme = /^https?:\/\//i.exec(target)
  if (scheme === null) return undefined
  const rest = target.slice(scheme[0].length)
  const end = rest.search(/[/?]/)
  const host = end === -1 ? rest : rest.slice(0, end)
  if (host === '' || !validHost.test(host)) return undefined
  const path = end === -1 ? '' : rest.slice(end)
  return { host: host.toLowerCase(), target: path.startsWith('/') ? path : `/${path}` }
}

/**
 * RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request with more
 * than one Host line or an invalid one. node keeps only the first of repeated Host lines,
 * so they are counted in rawHeaders; two Hosts are how cache-poisoning attempts begin.
 * HTTP/1.0 may omit Host; its context then has the empty host.
 */
function hostErrorOf(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') hosts += 1
  }
  if (hosts > 1) return 'more than one Host field'
  const host = req.headers.host
  if (host === undefined) {
    return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? undefined : 'missing Host field'
  }
  return validHost.test(host) ? undefined : 'invalid Host field'
}

/**
 * RFC 9113 §8.3.1: an HTTP/2 request names its host in :authority, or in Host; a Host
 * that names another than :authority is malformed, as two Host lines are in HTTP/1.1.
 */
function authorityErrorOf(req: ServerRequest): string | undefined {
  const authority = req.headers[':authority']
  const host = req.headers.host
  if (
    typeof authority === 'string' &&
    typeof host === 'string' &&
    authority.toLowerCase() !== host.toLowerCase()
  ) {
    return 'Host field differs from :authority'
  }
  const given = authority ?? host
  if (typeof given !== 'string') return 'missing :authority'
  return validHost.test(given) ? undefined : 'invalid :authority'
}

/**
 * RFC 9112 §6.3: a request has a body when it says how long it is or how it is framed.
 * RFC 9113 §8.1: an HTTP/2 request has none when its HEADERS frame ended the stream.
 */
function hasBody(req: ServerRequest, h2: boolean): boolean {
  if (h2) return !(req as Http2ServerRequest).stream.endAfterHeaders
  const length = req.headers['content-length']
  if (length !== undefined) return Number(length) > 0
  return req.headers['transfer-encoding'] !== undefined
}

/** RFC 9110 §6.4.1: no content in answers to HEAD, nor in 1xx, 204 or 304 responses. */
function mayHaveBody(method: string, status: number): boolean {
  return method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304
}

/** Drops a body that will not be sent; destroying a stream aborts whatever feeds it. */
function discard(body: Answer['body']): void {
  if (body !== undefined && !Buffer.isBuffer(body)) body.destroy()
}
