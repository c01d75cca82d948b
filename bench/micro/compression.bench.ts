/**
 * The coders at the levels compression.levels chooses between, on the bench's 16 KiB HTML
 * page (bench/http/text-body.ts) and a real 50 KB script (undici's HTTP/1 client): how long
 * coding one body takes, and how small it gets. What a miss waits for and a hit never pays;
 * docs/compression.md keeps the figures behind the default levels. In-process, one call
 * per body, on the calling thread.
 */
import { readFileSync } from 'node:fs'
import { bench, do_not_optimize, run, summary } from 'mitata'
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  gunzipSync,
  gzipSync,
  zstdCompressSync,
  zstdDecompressSync,
} from 'node:zlib'
import { textPage } from '../http/text-body.ts'

const bodies = {
  'html 16 KiB': textPage(16 * 1024),
  'js 50 KB': readFileSync(new URL('../../node_modules/undici/lib/dispatcher/client-h1.js', import.meta.url)),
}

const br = (q: number) => (b: Buffer) =>
  brotliCompressSync(b, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: q,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: b.length,
    },
  })
const gzip = (level: number) => (b: Buffer) => gzipSync(b, { level })
const zstd = (level: number) => (b: Buffer) =>
  zstdCompressSync(b, { params: { [constants.ZSTD_c_compressionLevel]: level } })

const coders: readonly [string, (b: Buffer) => Buffer][] = [
  ['br 1', br(1)],
  ['br 4', br(4)],
  ['br 5', br(5)],
  ['br 6', br(6)],
  ['br 11', br(11)],
  ['gzip 1', gzip(1)],
  ['gzip 6', gzip(6)],
  ['gzip 9', gzip(9)],
  ['zstd 1', zstd(1)],
  ['zstd 3', zstd(3)],
  ['zstd 6', zstd(6)],
]

for (const [name, body] of Object.entries(bodies)) {
  const sizes = coders.map(
    ([coder, code]) => `${coder} ${((code(body).length / body.length) * 100).toFixed(1)}%`,
  )
  console.log(`${name} (${body.length} bytes), coded size: ${sizes.join(', ')}`)
  summary(() => {
    for (const [coder, code] of coders) bench(`${name}: ${coder}`, () => do_not_optimize(code(body)))
  })
  // What a hit decoded for a client without Accept-Encoding pays (pipeline/cache/encodings.ts).
  const coded = { br: br(5)(body), gzip: gzip(6)(body), zstd: zstd(3)(body) }
  summary(() => {
    bench(`${name}: decode br 5`, () => do_not_optimize(brotliDecompressSync(coded.br)))
    bench(`${name}: decode gzip 6`, () => do_not_optimize(gunzipSync(coded.gzip)))
    bench(`${name}: decode zstd 3`, () => do_not_optimize(zstdDecompressSync(coded.zstd)))
  })
}

await run()
