/**
 * Where a process's log lines go: standard output or `log.file`, in one ordered stream of
 * bytes, so pino's lines and the access lines keep their order and a file is reopened in
 * one place. Lines are encoded into a batch that is written once BATCH_BYTES have gathered
 * or FLUSH_MS has passed, as nginx's `access_log … buffer=32k flush=…` does: a write per
 * line cost more than the line (and strings joined line by line cost a third more than
 * bytes, in copies and garbage). A line written with `write` (pino's) goes out as soon as
 * no write is in flight.
 *
 * Writes are asynchronous (`fs.write` on libuv's threadpool) and never block the event loop.
 * Two batch buffers take turns, one filling while the other is written, so a busy proxy
 * allocates nothing here: a new buffer for each batch (and sonic-boom's copy of it, which
 * this module used before) left a worker's C heap 25 MiB larger after a burst, memory glibc
 * could not give back. A clean stop awaits `flush()`; a process that exits otherwise
 * writes what is left synchronously on its way out.
 */
import { appendFileSync, close, mkdirSync, open, openSync, write, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DestinationStream } from 'pino'
import { EdgecacheError } from '../errors.ts'

/** A batch of lines is written once it holds this many bytes… */
const BATCH_BYTES = 32 * 1024
/** …or this long after its first line, so a quiet proxy's lines show up at once. */
const FLUSH_MS = 100
/** Room for a batch and the line that fills it (a UTF-16 unit is at most 3 UTF-8 bytes). */
const BATCH_CAPACITY = 2 * BATCH_BYTES
/** A clean stop waits at most this long for the file to take the last lines. */
const FLUSH_BOUND_MS = 5_000
/** The same output error is reported on standard error at most once in this long. */
const ERROR_REPORT_MS = 10_000
/** A write refused for now (EAGAIN: standard output is a full non-blocking pipe) is tried again after this long. */
const RETRY_MS = 10

export interface LogOutput {
  /** A line to write out now, after every line kept before it (pino writes here). */
  write(line: string): void
  /** A line that may wait for others (access lines): written within FLUSH_MS. */
  buffer(line: string): void
  /** Opens `log.file` again at its path, after logrotate moved it; nothing on standard output. */
  reopen(): void
  /**
   * Hands on what is kept and resolves once the file has taken it (or after 5 s); calls
   * `callback` then too, as pino's `logger.flush(callback)` expects of its destination.
   */
  flush(callback?: () => void): Promise<void>
}

export interface LogOutputOptions {
  /** A file to append lines to instead of standard output. */
  readonly file?: string | undefined
  /** Where lines go instead (tests pass a stream to read them). */
  readonly destination?: DestinationStream | undefined
}

/** A file descriptor lines go to: standard output, or the file as opened at one time. */
interface Target {
  /** Undefined while a reopened file is being opened. */
  fd: number | undefined
  /** Whether the descriptor is this output's to close (not standard output, nor one shared). */
  owned: boolean
}

/** Bytes handed on to be written to `target`, in order. */
interface Chunk {
  readonly target: Target
  readonly bytes: Buffer
  readonly length: number
  written: number
}

/**
 * Outputs with lines not yet written, for onExit: each is here from its first line kept
 * until everything it was given is written.
 */
const unfinished = new Set<Output>()

class Output implements LogOutput {
  readonly #destination: DestinationStream | undefined
  readonly #file: string | undefined
  /** Where lines kept from now on go. */
  #target: Target
  /** Handed on, not yet written, oldest first; the first is in flight while #writing. */
  readonly #queue: Chunk[] = []
  #writing = false
  /** Lines kept, UTF-8, in `#batch[0, #used)`. */
  #batch: Buffer = Buffer.allocUnsafe(BATCH_CAPACITY)
  #used = 0
  /**
   * What is kept should go out as soon as no write is in flight: a line from `write`, the
   * flush timer, or `flush()`. Otherwise kept lines wait for a full batch.
   */
  #due = false
  /** The other batch buffer, back from its write. */
  #spare: Buffer | undefined
  #timer: NodeJS.Timeout | undefined
  /** Called once everything kept and handed on is written (flush waits here). */
  #idle: (() => void)[] = []
  /** Standard output was closed (EPIPE): lines have nowhere to go. */
  #broken = false
  #lastError = { code: '', at: 0 }

  constructor(options: LogOutputOptions) {
    this.#destination = options.destination
    const file = options.file
    this.#file = file
    this.#target =
      options.destination !== undefined || file === undefined
        ? { fd: 1, owned: false }
        : { fd: openForAppend(file), owned: true }
  }

  write(line: string): void {
    this.#keep(line)
    this.#due = true
    this.#handOnKept()
  }

  buffer(line: string): void {
    this.#keep(line)
    if (this.#used >= BATCH_BYTES) this.#handOnKept()
  }

  reopen(): void {
    const file = this.#file
    if (file === undefined || this.#destination !== undefined) return
    // What was logged before goes to the file being moved away, after what is in flight.
    const old = this.#target
    if (this.#used > 0) this.#enqueue()
    const reopened: Target = { fd: undefined, owned: true }
    this.#target = reopened
    open(file, 'a', (err, fd) => {
      if (err === null) {
        reopened.fd = fd
        // Another reopen may have come meanwhile: then this one is done with too.
        this.#closeIfDone(reopened)
      } else {
        // The old file stays in use: lines are better there than nowhere.
        this.#failed(err)
        reopened.fd = old.fd
        reopened.owned = old.owned
        old.owned = false
      }
      this.#closeIfDone(old)
      this.#pump()
    })
  }

  flush(callback?: () => void): Promise<void> {
    const flushed = this.#flush()
    if (callback !== undefined) void flushed.then(callback)
    return flushed
  }

  #flush(): Promise<void> {
    this.#due = true
    this.#handOnKept()
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => {
      const bound = setTimeout(resolve, FLUSH_BOUND_MS).unref()
      this.#idle.push(() => {
        clearTimeout(bound)
        resolve()
      })
    })
  }

  /** On exit, with no event loop left: what is in flight, handed on or kept goes out synchronously. */
  flushSync(): void {
    try {
      if (this.#broken) return
      if (this.#destination !== undefined) {
        this.#due = true
        this.#handOnKept()
        return
      }
      // The write in flight may have been partly done: it is written again from where it
      // was last known to stand (a line twice rather than none).
      for (const chunk of this.#queue.splice(0))
        this.#writeSyncTo(chunk.target, chunk.bytes.subarray(chunk.written, chunk.length))
      if (this.#used > 0) this.#writeSyncTo(this.#target, this.#batch.subarray(0, this.#used))
      this.#used = 0
    } catch {
      // Standard output closed, or the file cannot be written: nothing more can be done.
    }
  }

  #writeSyncTo(target: Target, bytes: Buffer): void {
    if (target.fd !== undefined) writeSync(target.fd, bytes)
    else if (this.#file !== undefined) appendFileSync(this.#file, bytes)
  }

  /** Keeps `line` after the lines kept before it. */
  #keep(line: string): void {
    if (this.#broken) return
    const most = 3 * line.length
    if (this.#used + most > this.#batch.length) {
      this.#handOnKept()
      // A line longer than a batch, or lines kept while a write is slow: a bigger batch.
      if (this.#used + most > this.#batch.length) {
        const size = Math.max(2 * this.#batch.length, this.#used + most)
        this.#batch = Buffer.concat([this.#batch.subarray(0, this.#used)], size)
      }
    }
    if (this.#used === 0) {
      this.#timer ??= setTimeout(this.#onTimer, FLUSH_MS).unref()
      unfinished.add(this)
    }
    this.#used += this.#batch.write(line, this.#used)
  }

  #onTimer = (): void => {
    this.#timer = undefined
    this.#due = true
    this.#handOnKept()
  }

  /**
   * Hands on what is kept once it is a full batch or due, unless a write is still waiting:
   * then the lines keep gathering and go out together once it is done, as one write.
   */
  #handOnKept(): void {
    if (this.#used === 0 || this.#queue.length > 0) return
    if (!this.#due && this.#used < BATCH_BYTES) return
    const destination = this.#destination
    if (destination !== undefined) {
      destination.write(this.#batch.toString('utf8', 0, this.#used))
      this.#used = 0
      unfinished.delete(this)
      return
    }
    this.#enqueue()
    this.#pump()
  }

  /** Moves what is kept to the queue, for the target it was kept for, and takes the other buffer. */
  #enqueue(): void {
    this.#queue.push({ target: this.#target, bytes: this.#batch, length: this.#used, written: 0 })
    this.#batch = this.#spare ?? Buffer.allocUnsafe(BATCH_CAPACITY)
    this.#spare = undefined
    this.#used = 0
    this.#due = false
  }

  /** Writes the oldest chunk, unless one is in flight or its file is still opening. */
  #pump = (): void => {
    const chunk = this.#queue[0]
    if (this.#writing || chunk === undefined) return
    const fd = chunk.target.fd
    if (fd === undefined) return
    this.#writing = true
    write(fd, chunk.bytes, chunk.written, chunk.length - chunk.written, null, (err, n) => {
      this.#writing = false
      if (err !== null) {
        if (err.code === 'EAGAIN') {
          setTimeout(this.#pump, RETRY_MS).unref()
          return
        }
        this.#failed(err)
        if (this.#broken) return
        // This chunk is lost; the next may fare better (a full disk that was cleaned).
        chunk.written = chunk.length
      } else {
        chunk.written += n
      }
      if (chunk.written < chunk.length) {
        this.#pump()
        return
      }
      this.#queue.shift()
      if (chunk.bytes.length === BATCH_CAPACITY) this.#spare = chunk.bytes
      this.#closeIfDone(chunk.target)
      if (this.#queue.length === 0) this.#handOnKept()
      if (this.#isIdle()) this.#settle()
      else this.#pump()
    })
  }

  #isIdle(): boolean {
    return this.#broken || (this.#queue.length === 0 && this.#used === 0)
  }

  #settle(): void {
    unfinished.delete(this)
    for (const resolve of this.#idle.splice(0)) resolve()
  }

  /** Closes a file replaced by a reopen once nothing is left to write to it. */
  #closeIfDone(target: Target): void {
    if (target === this.#target || !target.owned || target.fd === undefined) return
    if (this.#queue.some((chunk) => chunk.target === target)) return
    target.owned = false
    close(target.fd, () => {})
  }

  /**
   * A failed write or reopen is said on standard error rather than end the process over
   * its log (a failed reopen keeps the old file in use). A closed standard output (EPIPE)
   * ends the logging instead, as pino's destination does.
   */
  #failed(err: NodeJS.ErrnoException): void {
    if (err.code === 'EPIPE') {
      this.#broken = true
      this.#used = 0
      this.#queue.length = 0
      this.#settle()
      return
    }
    const code = err.code ?? err.message
    const now = Date.now()
    if (code === this.#lastError.code && now - this.#lastError.at < ERROR_REPORT_MS) return
    this.#lastError = { code, at: now }
    process.stderr.write(`edgecache: log output: ${err.message}\n`)
  }
}

/**
 * Opens `file` for appending, synchronously, at start: a log file that cannot be written
 * stops the start with its reason, rather than leave lines gathering for a file that
 * never opens.
 */
function openForAppend(file: string): number {
  try {
    mkdirSync(dirname(file), { recursive: true })
    return openSync(file, 'a')
  } catch (err) {
    throw new EdgecacheError(
      'EC_ERR_CONFIG_INVALID',
      [`log.file: cannot write ${JSON.stringify(file)}: ${(err as Error).message}`],
      { cause: err },
    )
  }
}

let exitHooked = false

function onExit(): void {
  for (const output of unfinished) output.flushSync()
}

/**
 * @example
 * const output = createLogOutput({ file: '/var/log/edgecache/edgecache.log' })
 * output.buffer('{"msg":"request"}\n')
 * process.on('SIGUSR2', () => output.reopen())
 */
export function createLogOutput(options: LogOutputOptions = {}): LogOutput {
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', onExit)
  }
  return new Output(options)
}
