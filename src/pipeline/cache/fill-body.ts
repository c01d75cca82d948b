/**
 * A fill's body: reads the origin's answer at the origin's pace, hands the whole body over
 * for storing only when it arrived whole, and lets any number of readers stream it from the
 * first byte, each at its own pace: the client that started the fill and every request
 * collapsed into it. A reader that stops reading, or goes away, holds nobody else up, and
 * the origin connection is free as soon as the origin is done.
 *
 * Memory: a storing fill keeps the chunks it has read until its last reader is done (one
 * copy, whatever the number of readers), counted against a budget shared by the fills of
 * the process (FillMemory). A fill that would pass the budget or the object limit stops
 * storing and becomes a pass-through: it drops the chunks every reader has had, and reads
 * from the origin only as fast as its slowest reader (at most WINDOW bytes ahead). With no
 * reader left, a pass-through gives up the origin request.
 *
 * Knows nothing of HTTP or of the store: bytes in, bytes out, and a verdict.
 */
import { Readable } from 'node:stream'

/** Bytes held by storing fills in one process, against a limit. */
export class FillMemory {
  readonly #limit: () => number
  #held = 0

  /** `limit` is read at each use: a reload may change it. */
  constructor(limit: () => number) {
    this.#limit = limit
  }

  /** Takes `bytes` if they fit under the limit; false (nothing taken) when they do not. */
  take(bytes: number): boolean {
    if (this.#held + bytes > this.#limit()) return false
    this.#held += bytes
    return true
  }

  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes)
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held
  }
}

/** Why a fill stopped storing: over the object limit, over the fill memory, or cut short. */
export type FillAbandon = 'too-large' | 'fill-memory' | 'incomplete'

export interface FillOptions {
  /** Largest body stored; past it the fill stops storing. */
  readonly maxBytes: number
  /** Content-Length of the response, when it had one. */
  readonly expectedLength: number | undefined
  readonly memory: FillMemory
  /** Called once with the whole body, when it arrived whole while storing. */
  onComplete(body: Buffer): void
  /** Called once when the body will not be stored. */
  onAbandon(reason: FillAbandon): void
}

/** How far a pass-through reads ahead of its slowest reader before pausing the origin. */
const WINDOW = 256 * 1024

export class FillBody {
  readonly #source: Readable
  readonly #options: FillOptions
  /** Chunks from index `#dropped` on; the ones before were dropped (pass-through only). */
  #chunks: Buffer[] = []
  #dropped = 0
  #bytes = 0
  /** Bytes taken from FillMemory for the chunks held. */
  #held = 0
  #storing = true
  #ended = false
  #error: Error | undefined
  readonly #readers = new Set<FillReader>()

  constructor(source: Readable, options: FillOptions) {
    this.#source = source
    this.#options = options
    source.on('data', (chunk: Buffer) => this.#onData(chunk))
    source.once('end', () => this.#onEnd())
    source.once('error', (err) => this.#onError(err))
    source.once('close', () => {
      // Closed without 'end' or 'error' (destroyed quietly): the body is cut short.
      if (!this.#ended && this.#error === undefined) this.#onError(new Error('origin body closed early'))
    })
  }

  /** Whether the body is still being kept for the store. */
  get storing(): boolean {
    return this.#storing
  }

  /** Readers streaming from the fill now. */
  get readers(): number {
    return this.#readers.size
  }

  /**
   * A new reader of the whole body, from its first byte; undefined once the fill dropped
   * chunks (a pass-through past its window) and cannot give a new reader the start.
   */
  reader(): Readable | undefined {
    if (this.#dropped > 0) return undefined
    const reader = new FillReader(this)
    this.#readers.add(reader)
    if (this.#error !== undefined) reader.destroy(this.#error)
    return reader
  }

  /** Chunk `index`, or undefined when it has not arrived yet. */
  chunkAt(index: number): Buffer | undefined {
    return this.#chunks[index - this.#dropped]
  }

  get ended(): boolean {
    return this.#ended
  }

  readerMoved(): void {
    if (!this.#storing) this.#trim()
  }

  readerGone(reader: FillReader): void {
    this.#readers.delete(reader)
    if (this.#readers.size > 0) {
      this.readerMoved()
      return
    }
    if (!this.#storing && !this.#ended) {
      // Nobody reads a body nobody stores: give up the origin request.
      this.#source.destroy()
      return
    }
    if (this.#ended || this.#error !== undefined) this.#release()
  }

  #onData(chunk: Buffer): void {
    this.#chunks.push(chunk)
    this.#bytes += chunk.length
    if (this.#storing) {
      if (this.#bytes > this.#options.maxBytes) this.#stopStoring('too-large')
      else if (this.#options.memory.take(chunk.length)) this.#held += chunk.length
      else this.#stopStoring('fill-memory')
    }
    for (const reader of this.#readers) reader.wake()
    if (!this.#storing) this.#trim()
  }

  #onEnd(): void {
    this.#ended = true
    if (this.#storing) {
      const { expectedLength } = this.#options
      if (expectedLength !== undefined && expectedLength !== this.#bytes) {
        this.#stopStoring('incomplete')
      } else {
        const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes)
        this.#options.onComplete(body)
      }
    }
    for (const reader of this.#readers) reader.wake()
    if (this.#readers.size === 0) this.#release()
  }

  #onError(err: Error): void {
    if (this.#error !== undefined || this.#ended) return
    this.#error = err
    if (this.#storing) this.#stopStoring('incomplete')
    for (const reader of [...this.#readers]) reader.destroy(err)
    this.#release()
  }

  #stopStoring(reason: FillAbandon): void {
    this.#storing = false
    this.#options.memory.give(this.#held)
    this.#held = 0
    this.#options.onAbandon(reason)
    if (this.#readers.size === 0 && !this.#ended && this.#error === undefined) this.#source.destroy()
  }

  /** Pass-through: drops what every reader has had, and holds the origin to the slowest. */
  #trim(): void {
    let slowest = Number.POSITIVE_INFINITY
    for (const reader of this.#readers) slowest = Math.min(slowest, reader.next)
    if (slowest === Number.POSITIVE_INFINITY) slowest = this.#dropped + this.#chunks.length
    const drop = slowest - this.#dropped
    if (drop > 0) {
      this.#chunks.splice(0, drop)
      this.#dropped = slowest
    }
    if (this.#ended || this.#error !== undefined) return
    let ahead = 0
    for (const chunk of this.#chunks) ahead += chunk.length
    if (ahead > WINDOW) this.#source.pause()
    else if (this.#source.isPaused()) this.#source.resume()
  }

  /** The chunks are no longer needed by anyone: their memory goes back to the budget. */
  #release(): void {
    this.#options.memory.give(this.#held)
    this.#held = 0
    this.#chunks = []
  }
}

/** One reader's view of a fill: the chunks in order, pushed as it asks for them. */
class FillReader extends Readable {
  readonly #fill: FillBody
  /** Index of the next chunk to push. */
  next = 0
  #wanted = false

  constructor(fill: FillBody) {
    super()
    this.#fill = fill
  }

  wake(): void {
    if (this.#wanted) this._read()
  }

  override _read(): void {
    this.#wanted = true
    for (;;) {
      const chunk = this.#fill.chunkAt(this.next)
      if (chunk === undefined) {
        if (this.#fill.ended) {
          this.#wanted = false
          this.push(null)
        }
        return
      }
      this.next++
      this.#fill.readerMoved()
      if (!this.push(chunk)) {
        this.#wanted = false
        return
      }
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#fill.readerGone(this)
    callback(err)
  }
}
