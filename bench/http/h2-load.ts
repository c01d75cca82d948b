/**
 * An HTTP/2 load generator on node:http2 (h2load is rarely installed): `sessions`
 * connections, each keeping `streams` requests in flight, for `durationS` seconds. Runs as
 * its own process, so its CPU is not the server's, and prints one JSON line:
 * `{"requests","durationS","rps","p50Ms","p99Ms","errors"}`. One thread: past what one
 * core can send it measures itself, and bench/tls.ts says so beside its figures.
 *
 * Usage: node --import tsx bench/http/h2-load.ts URL SESSIONS STREAMS DURATION_S
 */
import { connect } from 'node:http2'

const [url = '', sessionsText = '8', streamsText = '8', durationText = '10'] = process.argv.slice(2)
const target = new URL(url)
const sessions = Number(sessionsText)
const streams = Number(streamsText)
const durationMs = Number(durationText) * 1000
// Up to 50 ms in 1 µs bins, then one overflow bin: enough for p50 and p99 of hits.
const bins = new Uint32Array(50_001)
let requests = 0
let errors = 0
let running = true
const started = performance.now()

function record(ms: number): void {
  requests++
  const bin = Math.min(bins.length - 1, Math.round(ms * 1000))
  bins[bin] = (bins[bin] as number) + 1
}

function percentile(p: number): number {
  let seen = 0
  const want = requests * p
  for (let i = 0; i < bins.length; i++) {
    seen += bins[i] as number
    if (seen >= want) return i / 1000
  }
  return Number.NaN
}

await Promise.all(
  Array.from({ length: sessions }, () => {
    const session = connect(target.origin, { rejectUnauthorized: false })
    session.on('error', () => {
      errors++
    })
    return new Promise<void>((resolve) => {
      let open = streams
      const one = () => {
        if (!running) {
          if (--open === 0) {
            session.close()
            resolve()
          }
          return
        }
        const sent = performance.now()
        const stream = session.request({ ':path': target.pathname })
        stream.on('response', (headers) => {
          if (Number(headers[':status']) !== 200) errors++
        })
        stream.on('data', () => {})
        stream.on('end', () => {
          record(performance.now() - sent)
          one()
        })
        stream.on('error', () => {
          errors++
          one()
        })
        stream.end()
      }
      for (let i = 0; i < streams; i++) one()
    })
  }).concat([
    new Promise<void>((resolve) =>
      setTimeout(() => {
        running = false
        resolve()
      }, durationMs),
    ),
  ]),
)
const durationS = (performance.now() - started) / 1000
process.stdout.write(
  `${JSON.stringify({ requests, durationS, rps: requests / durationS, p50Ms: percentile(0.5), p99Ms: percentile(0.99), errors })}\n`,
)
