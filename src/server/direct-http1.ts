/**
 * HTTP/1.1 below node:http. Each HTTP/1.1 connection (plain, or over TLS by ALPN) starts
 * here: a plain GET or HEAD whose whole header section has arrived is read without node's
 * parser, IncomingMessage or ServerResponse, and its answer is written straight to the
 * socket, the header section made as writeHead would make it (prepared-head.ts; a stored
 * response's fields joined once): a body in memory in the same write, a streamed one after
 * it with backpressure. That is about a tenth of a 1 KiB hit's CPU (docs/benchmarks.md).
 *
 * Anything else goes to node:http, for good: a request not read here (a body, Expect,
 * Upgrade, HTTP/1.0, a repeated field, bytes outside plain ASCII, a header section cut in
 * two, pipelining), or an answer not written here (no Content-Length, a field writeHead
 * treats specially, an interim response first). The bytes not yet read go back on the
 * socket and node reads them as it would have; a request already started keeps its
 * context, answer and signal (exchange.ts, `adoptOn`), so the pipeline runs once. Limits,
 * refusals and their wording therefore stay node's and exchange.ts's: a request that
 * breaks one is never read here. Kept here, as node keeps them: keep-alive and its idle
 * wait, the 408 of a new connection that sends nothing, closing after `connection: close`
 * or during shutdown, a client gone (499), a failing body cutting the connection,
 * `onFinish` once a request.
 */
import type { Socket } from 'node:net'
import type { Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Answer } from '../pipeline/answer.ts'
import type { HeaderMap, RequestContext } from '../pipeline/context.ts'
import {
  type Adopted,
  adoptOn,
  type ContextOwner,
  type ExchangeShared,
  newContext,
  validHost,
} from './exchange.ts'
import { type HeadConnection, type PreparedHead, preparedHead } from './prepared-head.ts'
import { requestIdOf } from './request-id.ts'

export interface DirectLimits {
  readonly maxHeaderBytes: number
  readonly maxHeaderCount: number
  readonly maxUriBytes: number
  readonly headersTimeoutMs: number
  readonly keepAliveTimeoutMs: number
}

/** A request head read here: only what a plain GET or HEAD can carry. */
export interface DirectHead {
  readonly method: 'GET' | 'HEAD'
  readonly target: string
  readonly headers: Record<string, string>
  /** The client did not say `connection: close`. */
  readonly keepAlive: boolean
  /** Offset just past the blank line that ends the header section. */
  readonly end: number
}

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58
/** The stored fields of an answer that has none. */
const NOTHING_STORED: NonNullable<Answer['storedFields']> = Object.freeze({})

/** As a Buffer: a string needle is encoded again on every search. */
const END_OF_HEAD = Buffer.from('\r\n\r\n')

/** RFC 9110 §5.6.2 tchar, by byte. */
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1

/** Fields whose request is node's to read: a body, an upgrade, an expectation. */
const NOT_HERE = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings'])

/**
 * The request head at the start of `buf` when it is one this module reads, else undefined
 * (incomplete, or node's to read). Accepts a strict subset of what node's parser accepts.
 */
export function parseDirectHead(buf: Buffer, limits: DirectLimits): DirectHead | undefined {
  const end = buf.indexOf(END_OF_HEAD)
  if (end === -1 || end + 4 > limits.maxHeaderBytes) return undefined
  let method: 'GET' | 'HEAD'
  let i: number
  if (buf[0] === 71 && buf[1] === 69 && buf[2] === 84 && buf[3] === SP) {
    method = 'GET'
    i = 4
  } else if (buf[0] === 72 && buf[1] === 69 && buf[2] === 65 && buf[3] === 68 && buf[4] === SP) {
    method = 'HEAD'
    i = 5
  } else {
    return undefined
  }
  const targetStart = i
  if (buf[i] !== 47 /* / */) return undefined
  while (i < end) {
    const c = buf[i]!
    if (c === SP) break
    if (c < 0x21 || c > 0x7e) return undefined
    i++
  }
  if (i - targetStart > limits.maxUriBytes) return undefined
  const target = buf.toString('latin1', targetStart, i)
  // " HTTP/1.1\r\n"
  if (
    buf[i] !== SP ||
    buf[i + 1] !== 72 ||
    buf[i + 2] !== 84 ||
    buf[i + 3] !== 84 ||
    buf[i + 4] !== 80 ||
    buf[i + 5] !== 47 ||
    buf[i + 6] !== 49 ||
    buf[i + 7] !== 46 ||
    buf[i + 8] !== 49 ||
    buf[i + 9] !== CR ||
    buf[i + 10] !== LF
  )
    return undefined
  i += 11
  const headers: Record<string, string> = {}
  let count = 0
  let keepAlive = true
  while (i < end + 2) {
    const nameStart = i
    while (TCHAR[buf[i]!] === 1) i++
    if (i === nameStart || buf[i] !== COLON) return undefined
    const name = buf.toString('latin1', nameStart, i).toLowerCase()
    i++
    while (buf[i] === SP || buf[i] === HTAB) i++
    const valueStart = i
    let valueEnd = i
    for (;;) {
      const c = buf[i]!
      if (c === CR) break
      if ((c < 0x20 && c !== HTAB) || c > 0x7e) return undefined
      i++
      if (c !== SP && c !== HTAB) valueEnd = i
    }
    if (buf[i + 1] !== LF) return undefined
    i += 2
    if (++count > limits.maxHeaderCount || NOT_HERE.has(name) || headers[name] !== undefined) return undefined
    const value = buf.toString('latin1', valueStart, valueEnd)
    if (name === 'connection') {
      const lower = value.toLowerCase()
      if (lower === 'close') keepAlive = false
      else if (lower !== 'keep-alive') return undefined
    }
    headers[name] = value
  }
  const host = headers.host
  if (host === undefined || !validHost.test(host)) return undefined
  return { method, target, headers, keepAlive, end: end + 4 }
}

/** How a connection read here ends up when something is node's to do. */
export interface DirectDeps {
  readonly shared: ExchangeShared
  readonly limits: DirectLimits
  /** node waits this long past keepAliveTimeoutMs before closing an idle connection. */
  readonly keepAliveBufferMs: number
  /** node:http's own handling of a new connection; it takes the socket over for good. */
  readonly handOver: (socket: Socket) => void
  /** Refuses a connection that sent no request in time, as node does (a 408). */
  readonly timedOut: (socket: Socket) => void
}

/** The connections being read here, for shutdown. */
export interface DirectConnections {
  /** Starts reading a new connection here. */
  accept(socket: Socket): void
  /** Closes the connections between requests; the others close after their answer. */
  closeIdle(): void
  /** Destroys every connection still read here. */
  closeAll(): void
}

/**
 * @example
 * const direct = directConnections({ shared, limits, keepAliveBufferMs: 1000, handOver, timedOut })
 * server.on('connection', direct.accept)
 */
export function directConnections(direct: DirectDeps): DirectConnections {
  const open = new Set<DirectConnection>()
  const keepAliveTimeoutMs = direct.limits.keepAliveTimeoutMs
  const deps: ConnectionDeps = {
    ...direct,
    keptAlive: { keepAlive: true, keepAliveTimeoutMs, maxRequests: 0, lastRequest: false },
    closing: { keepAlive: false, keepAliveTimeoutMs, maxRequests: 0, lastRequest: false },
  }
  return {
    accept(socket) {
      open.add(new DirectConnection(socket, deps, open))
    },
    closeIdle() {
      for (const connection of open) connection.closeIfIdle()
    },
    closeAll() {
      for (const connection of open) connection.destroy()
    },
  }
}

/** One request started here, until its answer is written or handed to node. */
class DirectRequest implements ContextOwner {
  readonly ctx: RequestContext
  readonly head: DirectHead
  /** The head's bytes, for node to read again if it takes the request over. */
  readonly raw: Buffer
  readonly #connection: DirectConnection
  controller: AbortController | undefined
  gone = false
  /** Interim responses that came before the answer; made on the first, which is rare. */
  interims: [number, HeaderMap][] | undefined

  constructor(
    connection: DirectConnection,
    head: DirectHead,
    raw: Buffer,
    socket: Socket,
    shared: ExchangeShared,
  ) {
    this.#connection = connection
    this.head = head
    this.raw = raw
    const headers = head.headers
    this.ctx = newContext(this, {
      id: requestIdOf(headers['x-request-id']),
      method: head.method,
      scheme: shared.scheme,
      host: headers.host!.toLowerCase(),
      target: head.target,
      httpVersion: '1.1',
      headers,
      clientAddress: socket.remoteAddress ?? '',
      clientSubject:
        shared.clientSubject === undefined ? undefined : shared.clientSubject(socket as TLSSocket),
      body: undefined,
      receivedAt: shared.clock.now(),
      interims: true,
    })
  }

  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.gone) this.controller.abort()
    }
    return this.controller.signal
  }

  /** Interim responses are node's to write: the request goes to node, which sends them on. */
  interim(status: number, headers: HeaderMap): void {
    if (this.gone) return
    if (this.interims === undefined) this.interims = [[status, headers]]
    else this.interims.push([status, headers])
    this.#connection.handOverPending()
  }
}

/** A body being streamed to the client, and what its `onFinish` reports. */
interface Streaming {
  readonly request: DirectRequest
  readonly status: number
  readonly body: Readable
  bytes: number
}

/**
 * Bodies up to this size are copied after their header section into one buffer; larger
 * ones are written beside it, where the copy would cost more than the second chunk.
 */
const JOINED_BODY_BYTES = 16 * 1024

/**
 * `DirectDeps` and what an answer's head says of the connection, kept alive or not: the
 * same for every answer of a listener, so made once. (node's maxRequestsPerSocket is not
 * set on these listeners: no limit, never the last request.)
 */
interface ConnectionDeps extends DirectDeps {
  readonly keptAlive: HeadConnection
  readonly closing: HeadConnection
}

class DirectConnection {
  readonly #socket: Socket
  readonly #deps: ConnectionDeps
  readonly #open: Set<DirectConnection>
  /** Bytes received and not yet read as a request. */
  #buffered: Buffer | undefined
  /** The request whose answer is awaited. */
  #pending: DirectRequest | undefined
  #answer: Promise<Answer> | undefined
  /** Waiting for the socket to drain before reading the next request. */
  #draining = false
  /** A streamed body being written. */
  #streaming: Streaming | undefined
  /** An answer has been written: a timeout is then the keep-alive wait, not a 408. */
  #answered = false
  #handOverOnStart = false
  /** The socket's timer is the keep-alive wait, no longer the first request's. */
  #keepAliveTimer = false
  #done = false

  constructor(socket: Socket, deps: ConnectionDeps, open: Set<DirectConnection>) {
    this.#socket = socket
    this.#deps = deps
    this.#open = open
    socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    socket.on('timeout', this.#onTimeout)
    socket.on('drain', this.#onDrain)
    socket.setTimeout(deps.limits.headersTimeoutMs)
    // A socket that had bytes read ahead (the PROXY protocol) comes paused.
    socket.resume()
  }

  /** Between requests, with every answer written: closed now. Otherwise after its answer (#next). */
  closeIfIdle(): void {
    if (
      this.#pending === undefined &&
      this.#streaming === undefined &&
      !this.#draining &&
      this.#socket.writableLength === 0
    )
      this.#socket.destroy()
  }

  destroy(): void {
    this.#socket.destroy()
  }

  /** An interim response came: the request and the connection go to node now. */
  handOverPending(): void {
    const pending = this.#pending
    if (pending === undefined || this.#done) return
    // Called from inside the pipeline before it returned: handed over once it has.
    if (this.#answer === undefined) this.#handOverOnStart = true
    else this.#handOver(pending, this.#answer)
  }

  #onData = (chunk: Buffer): void => {
    if (this.#done) return
    const buffered = this.#buffered
    const all = buffered === undefined ? chunk : Buffer.concat([buffered, chunk])
    this.#buffered = all
    if (this.#streaming !== undefined) return
    if (this.#pending === undefined && !this.#draining) this.#next()
    // A request sent before the last answer was out (pipelining): node reads on, runs them
    // at once and holds their answers in order.
    else this.#handOver(this.#pending, this.#answer)
  }

  /** Reads the next request from what is buffered, or waits for one. */
  #next(): void {
    const buffered = this.#buffered
    const socket = this.#socket
    if (buffered === undefined) {
      if (this.#deps.shared.closing) {
        // Shutting down: no next request.
        this.#done = true
        socket.end()
        return
      }
      // Between requests: node's keep-alive wait, and the same buffer past it. Set once, or
      // again after it fired during an answer: reads and writes restart the socket's timer.
      if (!this.#keepAliveTimer) {
        this.#keepAliveTimer = true
        const keepAliveMs = this.#deps.limits.keepAliveTimeoutMs
        socket.setTimeout(keepAliveMs === 0 ? 0 : keepAliveMs + this.#deps.keepAliveBufferMs)
      }
      return
    }
    const head = parseDirectHead(buffered, this.#deps.limits)
    // Not a request read here, or more than one (pipelined): node's.
    if (head === undefined || head.end < buffered.length) {
      this.#handOver(undefined, undefined)
      return
    }
    const shared = this.#deps.shared
    this.#buffered = undefined
    // Exactly one request is buffered (more went to node above): its head is all of it.
    const request = new DirectRequest(this, head, buffered, socket, shared)
    this.#pending = request
    shared.inFlight += 1
    let answer: Promise<Answer>
    try {
      answer = shared.pipeline(request.ctx)
    } catch (err) {
      answer = Promise.reject(err)
    }
    this.#answer = answer
    answer.then(
      (value) => this.#onAnswer(request, value),
      () => this.#onRejected(request),
    )
    if (this.#handOverOnStart) this.#handOver(request, answer)
  }

  #onAnswer(request: DirectRequest, answer: Answer): void {
    if (this.#pending !== request) return
    if (request.gone) {
      if (answer.body !== undefined && !Buffer.isBuffer(answer.body)) answer.body.destroy()
      this.#finish(request, 499, 0)
      return
    }
    const body = answer.body
    const deps = this.#deps
    const shared = deps.shared
    const headers = answer.headers
    headers['x-request-id'] = request.ctx.id
    const connection = request.head.keepAlive && !shared.closing ? deps.keptAlive : deps.closing
    if (shared.closing) headers.connection = 'close'
    // An answer not from the store has every field checked as writeHead checks it.
    const head = preparedHead(answer.status, headers, answer.storedFields ?? NOTHING_STORED, connection)
    if (head === undefined) {
      this.#handOver(request, Promise.resolve(answer))
      return
    }
    this.#pending = undefined
    this.#answer = undefined
    this.#answered = true
    const status = answer.status
    const socket = this.#socket
    const hasContent = request.head.method !== 'HEAD' && status !== 204 && status !== 304
    if (body !== undefined && !Buffer.isBuffer(body)) {
      if (hasContent) {
        this.#stream(request, status, head, body)
        return
      }
      body.destroy()
    }
    const content = hasContent ? (body as Buffer | undefined) : undefined
    const bytes = content?.length ?? 0
    const onWritten = () => this.#finish(request, status, bytes)
    let flowing: boolean
    if (content === undefined) {
      flowing = socket.write(head.text, 'latin1', onWritten)
    } else if (content.length <= JOINED_BODY_BYTES) {
      // One buffer, one write: cheaper than node's writev of a string and a buffer.
      const text = head.text
      const joined = Buffer.allocUnsafe(text.length + content.length)
      joined.write(text, 0, 'latin1')
      content.copy(joined, text.length)
      flowing = socket.write(joined, onWritten)
    } else {
      socket.cork()
      socket.write(head.text, 'latin1')
      flowing = socket.write(content, onWritten)
      socket.uncork()
    }
    this.#afterAnswer(head.close, flowing)
  }

  /**
   * Writes a streamed body after its head, with backpressure. Requests that arrive
   * meanwhile wait in #buffered: nothing else may write until it ends. A body that fails
   * cuts the connection, so the client never sees a clean end; a client that leaves
   * destroys the body, which aborts whatever feeds it (#onClose).
   */
  #stream(request: DirectRequest, status: number, head: PreparedHead, body: Readable): void {
    const socket = this.#socket
    const streaming: Streaming = { request, status, body, bytes: 0 }
    this.#streaming = streaming
    socket.write(head.text, 'latin1')
    body.on('data', (chunk: Buffer) => {
      streaming.bytes += chunk.length
      if (!socket.write(chunk)) body.pause()
    })
    body.once('error', (err: NodeJS.ErrnoException) => {
      // A premature close is the client leaving, which is no fault of ours.
      if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        this.#deps.shared.log.warn({ err, reqId: request.ctx.id }, 'answer body failed, response cut short')
      }
      socket.destroy()
    })
    body.once('end', () => {
      if (this.#streaming !== streaming) return
      this.#streaming = undefined
      const flowing = socket.write('', () => this.#finish(request, status, streaming.bytes))
      this.#afterAnswer(head.close, flowing)
    })
  }

  /** After an answer is handed to the socket: close, wait for it to drain, or read on. */
  #afterAnswer(close: boolean, flowing: boolean): void {
    if (close) {
      this.#done = true
      this.#socket.end()
    } else if (!flowing) {
      this.#draining = true
    } else {
      this.#next()
    }
  }

  /** The pipeline failed: exchange.ts answers it (500), as it does for node's requests. */
  #onRejected(request: DirectRequest): void {
    if (this.#pending !== request) return
    if (request.gone) {
      this.#finish(request, 499, 0)
      return
    }
    this.#handOver(request, this.#answer!)
  }

  #finish(request: DirectRequest, status: number, bytes: number): void {
    const shared = this.#deps.shared
    if (shared.onFinish !== undefined) {
      try {
        shared.onFinish(request.ctx, status, bytes, shared.clock.now() - request.ctx.receivedAt)
      } catch (err) {
        shared.log.error({ err, reqId: request.ctx.id }, 'onFinish failed')
      }
    }
    shared.inFlight -= 1
    if (shared.inFlight === 0) shared.onIdle?.()
  }

  /**
   * Gives the connection to node:http: what was not read here goes back on the socket
   * (a request started here first, which node's Exchange then takes over).
   */
  #handOver(request: DirectRequest | undefined, answer: Promise<Answer> | undefined): void {
    this.#done = true
    this.#stopListening()
    const socket = this.#socket
    socket.setTimeout(0)
    let rest = this.#buffered
    this.#buffered = undefined
    this.#pending = undefined
    this.#answer = undefined
    if (request !== undefined && answer !== undefined) {
      const adopted: Adopted = {
        ctx: request.ctx,
        answer,
        controller: request.controller,
        interims: request.interims ?? [],
      }
      adoptOn(socket, adopted)
      rest = rest === undefined ? request.raw : Buffer.concat([request.raw, rest])
    }
    if (rest !== undefined) socket.unshift(rest)
    this.#deps.handOver(socket)
  }

  #stopListening(): void {
    const socket = this.#socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('error', this.#onError)
    socket.off('close', this.#onClose)
    socket.off('timeout', this.#onTimeout)
    socket.off('drain', this.#onDrain)
    this.#open.delete(this)
  }

  #onDrain = (): void => {
    if (this.#streaming !== undefined) {
      this.#streaming.body.resume()
      return
    }
    if (!this.#draining) return
    this.#draining = false
    if (!this.#done) this.#next()
  }

  /**
   * The client has sent all it will. As node does (without `httpAllowHalfOpen`), a request
   * still unanswered counts as its client gone, and the connection is ended.
   */
  #onEnd = (): void => {
    // Mid-body, the rest could not be written after ending: cut, as node's would be.
    if (this.#streaming !== undefined) {
      this.#socket.destroy()
      return
    }
    this.#done = true
    this.#buffered = undefined
    this.#gone()
    this.#socket.end()
  }

  /** The request being answered, if any, has lost its client. */
  #gone(): void {
    const pending = this.#pending
    if (pending !== undefined && !pending.gone) {
      pending.gone = true
      pending.controller?.abort()
    }
  }

  #onError = (): void => {
    this.#socket.destroy()
  }

  #onClose = (): void => {
    this.#done = true
    this.#stopListening()
    this.#gone()
    const streaming = this.#streaming
    if (streaming !== undefined) {
      this.#streaming = undefined
      streaming.body.destroy()
      this.#finish(streaming.request, streaming.status, streaming.bytes)
    }
  }

  #onTimeout = (): void => {
    // A request being answered, or an answer still being written, has no timer, as in node
    // once a request's head is in; the wait starts again when the connection is idle.
    if (
      this.#pending !== undefined ||
      this.#streaming !== undefined ||
      this.#draining ||
      this.#socket.writableLength > 0
    ) {
      this.#keepAliveTimer = false
      return
    }
    // Nothing has been asked yet: node's 408. Between requests: closed without a word.
    if (!this.#answered) this.#deps.timedOut(this.#socket)
    else this.#socket.destroy()
  }
}
