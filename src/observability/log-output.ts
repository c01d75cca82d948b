/**
 * Where a process's log lines go: standard output or `log.file`, through one asynchronous
 * sonic-boom (what pino.destination builds on), so pino's lines and the access lines keep
 * their order and a file is reopened in one place. Access lines are encoded into a batch
 * of bytes that is handed on once BATCH_BYTES have gathered or FLUSH_MS has passed, as
 * nginx's `access_log … buffer=32k flush=…` does: a write per line cost more than the line
 * (and strings joined line by line cost a third more than bytes, in copies and garbage).
 * Writes never block the event loop; a clean stop awaits `flush()`, and a process that
 * exits otherwise writes what is kept synchronously on its way out.
 */
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import type { DestinationStream } from 'pino'
import { EdgecacheError } from '../errors.ts'
// sonic-boom is CommonJS: its class is a property of what it exports (it exports the class).
import sonicBoom, { type SonicBoom } from 'sonic-boom'

/** A batch of access lines is handed on once it holds this many bytes… */
const BATCH_BYTES = 32 * 1024
/** …or this long after its first line, so a quiet proxy's lines show up at once. */
const FLUSH_MS = 100
/** Room for a batch and the line that fills it (a UTF-16 unit is at most 3 UTF-8 bytes). */
const BATCH_CAPACITY = 2 * BATCH_BYTES
/** Up to this many bytes (a line of pino's, say) are copied out and the batch kept for more. */
const COPY_UP_TO = 4 * 1024
/** A clean stop waits at most this long for the file to take the last lines. */
const FLUSH_BOUND_MS = 5_000
/** The same output error is reported on standard error at most once in this long. */
const ERROR_REPORT_MS = 10_000

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

/**
 * Outputs with lines not yet written, for onExit: each is here from its first line kept
 * until sonic-boom has written everything (its 'drain').
 */
const unfinished = new Set<Output>()

class Output implements LogOutput {
  /** Undefined when writing to a stream given in the options. */
  readonly #sonic: SonicBoom | undefined
  readonly #destination: DestinationStream | undefined
  readonly #file: string | undefined
  /** Lines kept, UTF-8, in `#batch[0, #used)`. */
  #batch = Buffer.allocUnsafe(BATCH_CAPACITY)
  #used = 0
  /** sonic-boom opens a file asynchronously: lines are kept until it has. */
  #opened: boolean
  #timer: NodeJS.Timeout | undefined
  /** Lines handed to sonic-boom that it may not have written yet (cleared on 'drain'). */
  #unwritten = false
  /** Standard output was closed (EPIPE): lines have nowhere to go. */
  #broken = false
  #lastError = { code: '', at: 0 }

  constructor(options: LogOutputOptions) {
    if (options.destination !== undefined) {
      this.#destination = options.destination
      this.#opened = true
      return
    }
    const file = options.file
    this.#file = file
    this.#opened = file === undefined
    if (file !== undefined) checkWritable(file)
    const sonic = new sonicBoom.SonicBoom({
      ...(file === undefined ? { fd: 1 } : { dest: file, mkdir: true }),
      sync: false,
      contentMode: 'buffer',
    })
    sonic.once('ready', () => {
      this.#opened = true
      this.#handOnKept()
    })
    sonic.on('drain', () => {
      this.#unwritten = false
      if (this.#used === 0) unfinished.delete(this)
    })
    sonic.on('error', (err: NodeJS.ErrnoException) => this.#failed(err))
    this.#sonic = sonic
  }

  write(line: string): void {
    this.#keep(line)
    this.#handOnKept()
  }

  buffer(line: string): void {
    this.#keep(line)
    if (this.#used >= BATCH_BYTES) this.#handOnKept()
  }

  reopen(): void {
    if (this.#file === undefined) return
    // What was logged before goes to the file being moved away: sonic-boom reopens once the
    // write in flight is done, and keeps the lines that come meanwhile for the new file.
    this.#handOnKept()
    this.#sonic?.reopen()
  }

  flush(callback?: () => void): Promise<void> {
    const flushed = this.#flush()
    if (callback !== undefined) void flushed.then(callback)
    return flushed
  }

  async #flush(): Promise<void> {
    const sonic = this.#sonic
    if (sonic === undefined) return this.#handOnKept()
    const deadline = Date.now() + FLUSH_BOUND_MS
    // Still opening: the lines go out once it has ('ready' hands them on).
    if (!this.#opened) await settled(sonic, 'ready', deadline)
    this.#handOnKept()
    if (this.#unwritten) await settled(sonic, 'drain', deadline)
  }

  /** On exit, with no event loop left: what is kept or unwritten goes out synchronously. */
  flushSync(): void {
    try {
      if (!this.#opened && this.#file !== undefined) {
        // Exiting before the file opened: every line is still kept here, in order.
        appendFileSync(this.#file, this.#batch.subarray(0, this.#used))
        this.#used = 0
        return
      }
      this.#handOnKept()
      if (this.#unwritten) this.#sonic?.flushSync()
    } catch {
      // Standard output closed, or the file cannot be written: nothing more can be done.
    }
  }

  /** Keeps `line` after the lines kept before it. */
  #keep(line: string): void {
    const most = 3 * line.length
    if (this.#used + most > this.#batch.length) {
      this.#handOnKept()
      // A line longer than a batch, or lines kept while the file opens: a bigger batch.
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
    this.#handOnKept()
  }

  #handOnKept(): void {
    if (this.#used === 0 || !this.#opened) return
    let kept = this.#batch.subarray(0, this.#used)
    // sonic-boom holds the bytes until written: a few are copied (from Node's pool), and a
    // full batch is handed on as it is and the next lines go to a new one.
    if (this.#used <= COPY_UP_TO) kept = Buffer.from(kept)
    else this.#batch = Buffer.allocUnsafe(BATCH_CAPACITY)
    this.#used = 0
    this.#handOn(kept)
  }

  #handOn(bytes: Buffer): void {
    if (this.#sonic === undefined) {
      this.#destination?.write(bytes.toString())
      unfinished.delete(this)
      return
    }
    if (this.#broken) return
    this.#unwritten = true
    unfinished.add(this)
    // contentMode 'buffer' takes bytes; its types know only strings.
    this.#sonic.write(bytes as unknown as string)
  }

  /**
   * A failed write or reopen leaves the lines with sonic-boom (a failed reopen, the old
   * file in use): say so on standard error rather than end the process over its log. A
   * closed standard output (EPIPE) ends the logging instead, as pino's destination does.
   */
  #failed(err: NodeJS.ErrnoException): void {
    if (err.code === 'EPIPE') {
      this.#broken = true
      this.#used = 0
      unfinished.delete(this)
      return
    }
    const code = err.code ?? err.message
    const now = Date.now()
    if (code === this.#lastError.code && now - this.#lastError.at < ERROR_REPORT_MS) return
    this.#lastError = { code, at: now }
    process.stderr.write(`edgecache: log output: ${err.message}\n`)
  }
}

/** Resolves on sonic-boom's `event`, on an error, or at `deadline` (epoch ms), whichever comes first. */
function settled(sonic: SonicBoom, event: 'ready' | 'drain', deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(bound)
      sonic.off(event, done)
      sonic.off('error', done)
      resolve()
    }
    const bound = setTimeout(done, Math.max(0, deadline - Date.now())).unref()
    sonic.once(event, done)
    sonic.once('error', done)
  })
}

/**
 * Opens `file` for appending once, synchronously, so a log file that cannot be written
 * stops the start with its reason, rather than leave lines gathering for a file that never
 * opens (sonic-boom opens it again, asynchronously).
 */
function checkWritable(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true })
    closeSync(openSync(file, 'a'))
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
