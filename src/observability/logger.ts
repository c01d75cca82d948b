/**
 * The one pino logger of a process. Parts get `logger.child({ component })`; secrets are
 * redacted wherever they appear.
 */
import { pino, type DestinationStream, type Logger } from 'pino'

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

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ??
      pino.destination(
        options.file === undefined ? { sync: false } : { dest: options.file, sync: false, mkdir: true },
      ),
  )
}
