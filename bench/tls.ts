/**
 * `npm run bench:tls`: 1 KiB cache hits through edgecache (dist/, the default workers, the
 * local store) over plain HTTP/1.1, HTTP/1.1 over TLS and HTTP/2 over TLS, one after the
 * other in one run, so the cost of TLS and of HTTP/2 shows against the plain hit. wrk
 * drives HTTP/1.1 (64 keep-alive connections); bench/http/h2-load.ts drives HTTP/2 (8
 * connections of 8 streams each, 64 requests in flight). The certificate is a P-256 one
 * made with openssl for the run. edgecache runs with its defaults (access lines to a file in
 * the run's temp directory). Prints a markdown table.
 *
 * Usage: npm run bench:tls [-- --duration S]
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { get as httpsGetRaw } from 'node:https'
import { fileURLToPath } from 'node:url'
import { detectTool, runLoad } from './http/load.ts'
import {
  freePort,
  get,
  readPortLine,
  spawnTracked,
  stopAll,
  stopChildrenOnExit,
  waitForOk,
} from './http/processes.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const durationArg = process.argv.indexOf('--duration')
const durationS = durationArg === -1 ? 10 : Number(process.argv[durationArg + 1])
const CONNECTIONS = 64

if (!existsSync(join(root, 'dist/main.js')))
  throw new Error('dist/main.js not found: run `npm run build` first')
stopChildrenOnExit()
const dir = mkdtempSync(join(tmpdir(), 'edgecache-bench-tls-'))
try {
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1'],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  )
  const origin = spawnTracked('origin', process.execPath, ['--import', 'tsx', 'bench/http/origin.ts'], root)
  const originPort = await readPortLine(origin)
  const [port, tlsPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()])
  const edgecache = spawnTracked(
    'edgecache',
    process.execPath,
    [
      'dist/main.js',
      ...['--upstream', `http://127.0.0.1:${originPort}`, '--listen', `127.0.0.1:${port}`],
      ...['--admin-listen', `127.0.0.1:${adminPort}`, '--tls-listen', `127.0.0.1:${tlsPort}`],
      ...['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')],
      ...['--cache-dir', join(dir, 'cache')],
    ],
    root,
    // The default log level, an access line per request, to a file as `npm run bench` does.
    { env: { EDGECACHE_LOG__FILE: join(dir, 'edgecache.log') } },
  )
  await waitForOk(`http://127.0.0.1:${adminPort}/ready`, edgecache)
  // http:// and https:// are two cache keys (the scheme is part of the URL): warm both.
  for (let i = 0; i < 8; i++) {
    await get(`http://127.0.0.1:${port}/hit/1k`)
    await httpsGet(`https://127.0.0.1:${tlsPort}/hit/1k`)
  }
  const tool = detectTool('wrk')
  const rows: string[] = []
  const plain = await runLoad(
    tool,
    { url: `http://127.0.0.1:${port}/hit/1k`, connections: CONNECTIONS, durationS, threads: 1 },
    root,
  )
  rows.push(row('HTTP/1.1', plain.rps, plain.p50Ms, plain.p99Ms, errorsOf(plain.errors)))
  const tls = await runLoad(
    tool,
    { url: `https://127.0.0.1:${tlsPort}/hit/1k`, connections: CONNECTIONS, durationS, threads: 1 },
    root,
  )
  rows.push(row('HTTP/1.1 over TLS', tls.rps, tls.p50Ms, tls.p99Ms, errorsOf(tls.errors)))
  const h2 = spawnTracked(
    'h2-load',
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/http/h2-load.ts',
      `https://127.0.0.1:${tlsPort}/hit/1k`,
      '8',
      '8',
      String(durationS),
    ],
    root,
  )
  let out = ''
  h2.process.stdout?.on('data', (chunk) => {
    out += chunk
  })
  await h2.exited
  const r = JSON.parse(out) as { rps: number; p50Ms: number; p99Ms: number; errors: number }
  rows.push(row('HTTP/2 over TLS (8 × 8 streams)', r.rps, r.p50Ms, r.p99Ms, r.errors))
  console.log(
    `edgecache ${availableParallelism()} workers (the default), local store, 1 KiB hits, ${CONNECTIONS} requests in flight, ` +
      `${durationS} s each; wrk ${tool.version} (1 thread) for HTTP/1.1, bench/http/h2-load.ts (node:http2, 1 thread) for HTTP/2; ` +
      `load average at the end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
  )
  console.log('| protocol | req/s | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: |')
  for (const line of rows) console.log(line)
} finally {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
}

function row(label: string, rps: number, p50: number, p99: number, errors: number): string {
  return `| ${label} | ${Math.round(rps).toLocaleString('en-US')} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${errors} |`
}

function errorsOf(e: { socket: number; timeout: number; badStatus: number }): number {
  return e.socket + e.timeout + e.badStatus
}

/** One GET over TLS on its own connection, body dropped; the run's own certificate is not checked. */
function httpsGet(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    httpsGetRaw(url, { rejectUnauthorized: false, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve())
    }).on('error', reject)
  })
}
