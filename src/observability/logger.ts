/**
 * The one pino logger of a process. Parts get `logger.child({ component })`; secrets are
 * redacted wherever they appear. Its lines go to a LogOutput, which access lines share.
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import { createRepeatLimiter, serializeError } from './log-limits.ts'
import { createLogOutput, type LogOutput } from './log-output.ts'

export type { Logger }

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface LoggerOptions {
  readonly level: LogLevel
  /** Where lines go; stdout when absent (tests pass a stream to read them). */
  readonly destination?: DestinationStream
  /** A file to append lines to instead of stdout. */
  readonly file?: string
}

const REDACT = [
  'authorization',
  'cookie',
  'set-cookie',
  'token',
  'tokens',
  '*.tokens',
  'admin.tokens',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.token',
]

/** A warning or error repeated within this long is written once, then counted. */
const REPEAT_WINDOW_MS = 10_000

/** pino's level number for warn: repeats of warnings and errors are held back, not of info. */
const WARN = 40

/**
 * A pino logMethod hook that holds back repeats of a warning or error (same level,
 * message, error code and `problems`, so that a rejected file is not taken for another
 * rejected otherwise) and adds `suppressed` to the next one written.
 */
function limitRepeats(admit: (kind: string) => number | undefined) {
  return function (
    this: Logger,
    args: Parameters<Logger['info']>,
    method: (...a: unknown[]) => void,
    level: number,
  ) {
    if (level < WARN) return method.apply(this, args)
    const [first, second] = args as unknown[]
    const fields =
      typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : undefined
    const message = fields === undefined ? first : second
    const code = (fields?.err as { code?: unknown } | undefined)?.code
    const problems = Array.isArray(fields?.problems) ? fields.problems.join('\n') : ''
    const held = admit(`${level} ${String(message)} ${String(code ?? '')} ${problems}`)
    if (held === undefined) return
    if (held > 0 && fields !== undefined)
      return method.apply(this, [{ ...fields, suppressed: held }, ...args.slice(1)])
    if (held > 0) return method.apply(this, [{ suppressed: held }, ...args])
    return method.apply(this, args)
  }
}

/** A process's logger and the output its lines go to (access lines are written there too). */
export interface Logging {
  readonly logger: Logger
  readonly output: LogOutput
}

export function createLogging(options: LoggerOptions): Logging {
  const output = createLogOutput({ file: options.file, destination: options.destination })
  const logger = pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
      hooks: { logMethod: limitRepeats(createRepeatLimiter(REPEAT_WINDOW_MS)) },
    },
    output,
  )
  return { logger, output }
}

export function createLogger(options: LoggerOptions): Logger {
  return createLogging(options).logger
}
