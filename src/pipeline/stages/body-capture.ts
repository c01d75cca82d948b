/**
 * Copies an origin body aside while it streams to the client, and hands the copy over
 * only when it arrived whole: ended normally, no larger than the object limit, and as long
 * as Content-Length said. Anything truncated, errored or aborted is abandoned, never stored.
 */
import { Transform, type TransformCallback, pipeline, type Readable } from 'node:stream'

export interface CaptureOptions {
  readonly maxBytes: number
  /** Content-Length of the response, when it had one. */
  readonly expectedLength: number | undefined
  /** Called once with the whole body. */
  onComplete(body: Buffer): void
  /** Called once when the body will not be complete; `reason` goes to Cache-Status detail and logs. */
  onAbandon(reason: 'too-large' | 'incomplete'): void
}

class BodyCapture extends Transform {
  #chunks: Buffer[] = []
  #bytes = 0
  #overflow = false
  #settled = false
  readonly #options: CaptureOptions

  constructor(options: CaptureOptions) {
    super()
    this.#options = options
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length
    if (!this.#overflow) {
      if (this.#bytes > this.#options.maxBytes) {
        this.#overflow = true
        this.#chunks = []
      } else {
        this.#chunks.push(chunk)
      }
    }
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    const { expectedLength } = this.#options
    if (this.#overflow) this.#settle('too-large')
    else if (expectedLength !== undefined && expectedLength !== this.#bytes) this.#settle('incomplete')
    else {
      this.#settled = true
      const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes)
      this.#chunks = []
      this.#options.onComplete(body)
    }
    callback()
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#settle('incomplete')
    callback(err)
  }

  #settle(reason: 'too-large' | 'incomplete'): void {
    if (this.#settled) return
    this.#settled = true
    this.#chunks = []
    this.#options.onAbandon(reason)
  }
}

/**
 * Returns a stream that yields `body` unchanged and captures it as `options` says.
 * Errors on `body` propagate to the returned stream, and destroying the returned stream
 * (the client went away) destroys `body`, which aborts the upstream request.
 */
export function captureBody(body: Readable, options: CaptureOptions): Readable {
  const capture = new BodyCapture(options)
  pipeline(body, capture, () => {
    // Errors reach the consumer through `capture`; settlement happened in _destroy/_flush.
  })
  return capture
}
