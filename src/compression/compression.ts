/**
 * Compression as configured: the codings offered (those this Node.js has, in the order of
 * preference the config gives), the rules for which responses are compressed, the levels,
 * and what a request's Accept-Encoding allows, worked out once per distinct field value.
 * The compress stage and the cache stage's hooks share one of these. No I/O.
 */
import { hasZstd, type Levels } from './encode.ts'
import {
  type Acceptance,
  type Coding,
  type CompressionRules,
  forbidsTransform,
  negotiate,
} from './negotiate.ts'

export interface CompressionOptions extends CompressionRules {
  /** Codings offered, most preferred first. */
  readonly codings: readonly Coding[]
  readonly levels: Levels
  /**
   * Largest body decoded whole, in bytes, to code a stored response in another coding; a
   * larger one is fetched from the origin in the coding asked for instead.
   */
  readonly maxDecodedBytes: number
  /** Whether zstd can be offered. @default hasZstd() */
  readonly zstdAvailable?: boolean
}

export interface Compression extends CompressionRules {
  /** Codings offered, most preferred first: `codings` less those this Node.js lacks. */
  readonly offered: readonly Coding[]
  /** Codings configured but missing from this Node.js (zstd on a build without it). */
  readonly unavailable: readonly Coding[]
  readonly levels: Levels
  readonly maxDecodedBytes: number
  /**
   * What a request accepts, and the coding it is answered with. A request with
   * `Cache-Control: no-transform` is answered in identity (RFC 9111 §5.2.1.6).
   */
  acceptanceOf(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Acceptance
}

/** Distinct Accept-Encoding values remembered; browsers send a handful, so this is plenty. */
const REMEMBERED = 256

/**
 * @example
 * const compression = createCompression({ codings: ['br', 'zstd', 'gzip'], types: ['text/*'],
 *   minBytes: 1024, levels: { br: 5, gzip: 6, zstd: 3 }, maxDecodedBytes: 8 << 20 })
 */
export function createCompression(options: CompressionOptions): Compression {
  const zstd = options.zstdAvailable ?? hasZstd()
  const offered = options.codings.filter((coding) => coding !== 'zstd' || zstd)
  const unavailable = options.codings.filter((coding) => !offered.includes(coding))
  // Parsed once per value: a hit on a coded variant reads Accept-Encoding again to select it.
  const remembered = new Map<string, Acceptance>()
  const none = negotiate(undefined, offered)

  function acceptanceOf(headers: Readonly<Record<string, string | readonly string[] | undefined>>) {
    const value = headers['accept-encoding']
    if (value === undefined) return none
    const text = typeof value === 'string' ? value : value.join(',')
    let acceptance = remembered.get(text)
    if (acceptance === undefined) {
      if (remembered.size >= REMEMBERED) remembered.clear()
      acceptance = negotiate(text, offered)
      remembered.set(text, acceptance)
    }
    const cacheControl = headers['cache-control']
    if (cacheControl !== undefined && forbidsTransform(cacheControl)) {
      return { chosen: 'identity' as const, accepts: acceptance.accepts }
    }
    return acceptance
  }

  return {
    offered,
    unavailable,
    types: options.types,
    minBytes: options.minBytes,
    levels: options.levels,
    maxDecodedBytes: options.maxDecodedBytes,
    acceptanceOf,
  }
}
