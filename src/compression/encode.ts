/**
 * The zlib side of compression: which codings this Node.js can produce, and an encoder and a
 * decoder for each, as streams for bodies that arrive in pieces and as one call for a body
 * that is here whole. zlib works on libuv's thread pool, off the event loop, either way.
 * Knows nothing of HTTP.
 */
import type { Transform } from 'node:stream'
import zlib from 'node:zlib'
import type { Coding } from './negotiate.ts'

/** Compression level of each coding. */
export interface Levels {
  /** Brotli quality, 0..11. */
  readonly br: number
  /** gzip (deflate) level, 1..9. */
  readonly gzip: number
  /** zstd level, 1..19. */
  readonly zstd: number
}

const { constants } = zlib

/**
 * True when this Node.js compresses and decompresses zstd. zlib's zstd is experimental in
 * Node 24 (added in 23.8 and 22.15): it may be missing from a build, so one round trip is
 * tried before zstd is offered to anyone.
 */
export function hasZstd(): boolean {
  try {
    if (typeof zlib.createZstdCompress !== 'function' || typeof zlib.zstdCompressSync !== 'function')
      return false
    const probe = Buffer.from('edgecache zstd probe')
    return zlib.zstdDecompressSync(zlib.zstdCompressSync(probe)).equals(probe)
  } catch {
    return false
  }
}

function brotliOptions(level: number, sizeHint: number | undefined): zlib.BrotliOptions {
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: level,
    // Every type compressed is text of some kind (see negotiate.ts); this tunes the model.
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  }
  if (sizeHint !== undefined) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint
  return { params }
}

function zstdOptions(level: number): zlib.ZstdOptions {
  return { params: { [constants.ZSTD_c_compressionLevel]: level } }
}

/** A stream that codes what is written to it. `sizeHint`: the body's length, when known. */
export function createEncoder(coding: Coding, levels: Levels, sizeHint?: number): Transform {
  switch (coding) {
    case 'br':
      return zlib.createBrotliCompress(brotliOptions(levels.br, sizeHint))
    case 'gzip':
      return zlib.createGzip({ level: levels.gzip })
    case 'zstd':
      return zlib.createZstdCompress(zstdOptions(levels.zstd))
  }
}

/** A stream that decodes a body in `coding`. */
export function createDecoder(coding: Coding): Transform {
  switch (coding) {
    case 'br':
      return zlib.createBrotliDecompress()
    case 'gzip':
      return zlib.createGunzip()
    case 'zstd':
      return zlib.createZstdDecompress()
  }
}

type Callback = (err: Error | null, result: Buffer) => void

/** `body`, whole, in `coding`. */
export function encode(coding: Coding, body: Buffer, levels: Levels): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done: Callback = (err, result) => (err === null ? resolve(result) : reject(err))
    switch (coding) {
      case 'br':
        return zlib.brotliCompress(body, brotliOptions(levels.br, body.length), done)
      case 'gzip':
        return zlib.gzip(body, { level: levels.gzip }, done)
      case 'zstd':
        return zlib.zstdCompress(body, zstdOptions(levels.zstd), done)
    }
  })
}

/**
 * `body` decoded from `coding`; rejects when the result would pass `maxBytes` (zlib stops
 * there, so a small body that decodes to a huge one costs no more than `maxBytes`).
 */
export function decode(coding: Coding, body: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done: Callback = (err, result) => (err === null ? resolve(result) : reject(err))
    const options = { maxOutputLength: Math.max(1, maxBytes) }
    switch (coding) {
      case 'br':
        return zlib.brotliDecompress(body, options, done)
      case 'gzip':
        return zlib.gunzip(body, options, done)
      case 'zstd':
        return zlib.zstdDecompress(body, options, done)
    }
  })
}

/** As `decode`, on the calling thread: for small bodies only (it blocks while it runs). */
export function decodeSync(coding: Coding, body: Buffer, maxBytes: number): Buffer {
  const options = { maxOutputLength: Math.max(1, maxBytes) }
  switch (coding) {
    case 'br':
      return zlib.brotliDecompressSync(body, options)
    case 'gzip':
      return zlib.gunzipSync(body, options)
    case 'zstd':
      return zlib.zstdDecompressSync(body, options)
  }
}
