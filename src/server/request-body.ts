/**
 * The request body as the pipeline reads it: the client's bytes, passed through unchanged,
 * failing with EC_ERR_REQUEST_BODY_TOO_LARGE once more than `maxBytes` have arrived.
 * Knows nothing of caching or of the answer.
 *
 * Why not hand the pipeline the IncomingMessage itself: destroying an unfinished
 * IncomingMessage destroys its socket, so an upstream that gives up on the body (undici
 * destroys it on failure) would reset the client instead of letting it get a 413 or 502.
 * This view can be destroyed freely; the IncomingMessage stays the server's to finish.
 *
 * It attaches to the IncomingMessage on the first read, so a body nobody reads is left to
 * node (which discards it after the response), and `onFirstRead` is the moment to send
 * `100 Continue`: a client that asked for it sends the body only when the body is wanted.
 */
import { Readable } from 'node:stream'
import { EdgecacheError } from '../errors.ts'

/** A request as node:http (IncomingMessage) or node:http2 (Http2ServerRequest) gives it. */
export type BodySource = Readable & { readonly complete: boolean }

export interface RequestBodyHooks {
  /** The pipeline started reading: time to send `100 Continue` if the client expects it. */
  onFirstRead(): void
  /** More than `maxBytes` arrived; the stream has already failed with `err`. */
  onTooLarge(err: EdgecacheError): void
}

/** A readable view of `req`'s body, capped at `maxBytes`. */
export class RequestBody extends Readable {
  readonly #req: BodySource
  readonly #maxBytes: number
  readonly #hooks: RequestBodyHooks
  #bytes = 0
  #attached = false
  #tooLarge = false

  constructor(req: BodySource, maxBytes: number, hooks: RequestBodyHooks) {
    super()
    this.#req = req
    this.#maxBytes = maxBytes
    this.#hooks = hooks
  }

  /**
   * Fails the body, unless it has fully arrived: its response is done or refused and the
   * connection is closing, so the rest will never be read. node forgets a request once its
   * response finishes and would not fail it when the socket then closes.
   */
  abandon(err: Error = abortedError()): void {
    if (!this.destroyed && !this.#req.complete) this.#fail(err)
  }

  override _read(): void {
    if (this.#attached) {
      this.#req.resume()
      return
    }
    this.#attached = true
    const req = this.#req
    if (req.destroyed && !req.readableEnded) {
      this.destroy(req.errored ?? abortedError())
      return
    }
    this.#hooks.onFirstRead()
    // A 'data' listener starts the flow; #onData pauses it when this stream's buffer is full.
    req.on('data', this.#onData)
    req.on('end', this.#onEnd)
    req.on('error', this.#onError)
    req.on('close', this.#onClose)
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#detach()
    // Let node pull what is left off the wire, as it does for a body nobody read, so a
    // kept-alive connection can parse its next request. Past the cap the connection closes
    // instead, and reading on would only prolong an oversized upload.
    if (this.#attached && !this.#tooLarge && !this.#req.readableEnded) this.#req.resume()
    callback(err)
  }

  #onData = (chunk: Buffer): void => {
    this.#bytes += chunk.length
    if (this.#bytes > this.#maxBytes) {
      this.#tooLarge = true
      this.#req.pause()
      const err = new EdgecacheError('EC_ERR_REQUEST_BODY_TOO_LARGE', [this.#maxBytes])
      this.#fail(err)
      this.#hooks.onTooLarge(err)
      return
    }
    if (!this.push(chunk)) this.#req.pause()
  }

  #onEnd = (): void => {
    this.push(null)
  }

  #onError = (err: Error): void => {
    this.destroy(err)
  }

  #onClose = (): void => {
    if (!this.#req.readableEnded) this.destroy(this.#req.errored ?? abortedError())
  }

  /**
   * Fails the stream with `err` when a reader listens for errors, else just closes it: an
   * 'error' nobody listens for would throw, and a body nobody reads fails nobody.
   */
  #fail(err: Error): void {
    this.destroy(this.listenerCount('error') > 0 ? err : undefined)
  }

  #detach(): void {
    const req = this.#req
    req.off('data', this.#onData)
    req.off('end', this.#onEnd)
    req.off('error', this.#onError)
    req.off('close', this.#onClose)
  }
}

/** What node calls a request whose client went away mid-body. */
function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
}
