/**
 * One access line: the way it was written before (a pino child logger's `info` with the
 * fields as an object, redaction paths and all) against the access line of
 * src/observability/access-log.ts, in JSON and combined. Two measures:
 *
 * 1. mitata, the line alone: each writes into a sink that keeps only the last string, so
 *    this is the cost of making the line (and pino's serialising and redaction), no I/O.
 * 2. CPU per line, end to end: 200,000 lines of a hit to a file in a temp directory, in
 *    bursts of 16 with a turn of the event loop between bursts (as requests finish), then
 *    a wait until the file has them all. The CPU time of the whole process (its own thread
 *    and libuv's, which do the writes) over the lines written. Before: pino to
 *    pino.destination (sonic-boom, asynchronous), as `createLogger` built it. After: the
 *    access line to the LogOutput (buffered, asynchronous). The loop alone (bursts and
 *    turns, no line) is measured too and taken off both. Target: under 2 µs a line.
 *
 * `--lines N` changes the count of the second measure.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { bench, do_not_optimize, run, summary } from 'mitata'
import { pino } from 'pino'
import { type AccessRequest, createAccessLog } from '../../src/observability/access-log.ts'
import { createLogOutput } from '../../src/observability/log-output.ts'
import { createLogger } from '../../src/observability/logger.ts'

const { values } = parseArgs({ options: { lines: { type: 'string', default: '200000' } } })
const LINES = Number(values.lines)
const BURST = 16

/** A 1 KiB hit as the bench's hit-1k case sees it. */
const hit: AccessRequest = {
  id: 'b7Qx2-00000001a3f',
  method: 'GET',
  host: '127.0.0.1:41234',
  target: '/hit/1k',
  httpVersion: '1.1',
  headers: { host: '127.0.0.1:41234', 'user-agent': 'wrk' },
  clientAddress: '127.0.0.1',
  facts: { route: 'default', cache: 'hit', upstreamStatus: undefined, upstreamMs: undefined, ruleTags: [] },
}

/** The line as app.ts wrote it through pino before the access line had a writer of its own. */
function pinoLine(log: ReturnType<typeof createLogger>, req: AccessRequest, totalMs: number): void {
  const query = req.target.indexOf('?')
  log.info(
    {
      reqId: req.id,
      method: req.method,
      host: req.host,
      path: query === -1 ? req.target : req.target.slice(0, query),
      route: req.facts.route,
      status: 200,
      cacheStatus: req.facts.cache,
      upstreamStatus: req.facts.upstreamStatus,
      upstreamMs: req.facts.upstreamMs,
      totalMs,
      bytes: 1024,
      client: req.clientAddress,
    },
    'request',
  )
}

let last = ''
const keep = (s: string) => {
  last = s
}
const sink = { write: keep, buffer: keep }
const viaPino = createLogger({ level: 'info', destination: sink }).child({ component: 'access' })
const json = createAccessLog({ format: 'json', withQuery: false, output: sink })
const combined = createAccessLog({ format: 'combined', withQuery: false, output: sink })

summary(() => {
  bench('access line: pino child logger (before)', () => {
    pinoLine(viaPino, hit, 0.5)
    return do_not_optimize(last)
  })
  bench('access line: json', () => {
    json.write(hit, 200, 1024, 0.5)
    return do_not_optimize(last)
  })
  bench('access line: combined', () => {
    combined.write(hit, 200, 1024, 0.5)
    return do_not_optimize(last)
  })
})
await run()

/** The line `write` makes, as the sink saw it. */
function lineOf(write: () => void): string {
  write()
  return last
}

interface Cpu {
  /** Every thread of the process. */
  readonly all: number
  /** The main thread alone: what the event loop spends. */
  readonly main: number
}

/**
 * CPU µs per line for LINES lines written by `write`, once `file` holds them all (polled
 * every few ms: both ways wait alike).
 */
async function cpuPerLine(write: () => void, file?: string, lineBytes = 0): Promise<Cpu> {
  const turn = () => new Promise((resolve) => setImmediate(resolve))
  const start = process.cpuUsage()
  const startMain = process.threadCpuUsage()
  for (let i = 0; i < LINES; i += BURST) {
    for (let j = 0; j < BURST; j++) write()
    await turn()
  }
  const expected = Math.ceil(LINES / BURST) * BURST * lineBytes
  const deadline = Date.now() + 60_000
  while (file !== undefined && statSync(file).size < expected) {
    if (Date.now() > deadline)
      throw new Error(`${file}: ${statSync(file).size} of ${expected} bytes after 60 s`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const all = process.cpuUsage(start)
  const main = process.threadCpuUsage(startMain)
  return { all: (all.user + all.system) / LINES, main: (main.user + main.system) / LINES }
}

const dir = mkdtempSync(join(tmpdir(), 'edgecache-bench-access-'))
try {
  const beforeBytes = Buffer.byteLength(lineOf(() => pinoLine(viaPino, hit, 0.5)))
  const afterBytes = Buffer.byteLength(lineOf(() => json.write(hit, 200, 1024, 0.5)))

  const loop = await cpuPerLine(() => {})
  const beforeFile = join(dir, 'before.log')
  const destination = pino.destination({ dest: beforeFile, sync: false })
  const before = createLogger({ level: 'info', destination }).child({ component: 'access' })
  await new Promise((resolve) => destination.once('ready', resolve))
  const was = await cpuPerLine(() => pinoLine(before, hit, 0.5), beforeFile, beforeBytes)

  const afterFile = join(dir, 'after.log')
  const output = createLogOutput({ file: afterFile })
  const after = createAccessLog({ format: 'json', withQuery: false, output })
  await output.flush()
  const is = await cpuPerLine(() => after.write(hit, 200, 1024, 0.5), afterFile, afterBytes)
  const us = (cpu: Cpu) =>
    `${(cpu.all - loop.all).toFixed(2)} µs, main thread ${(cpu.main - loop.main).toFixed(2)} µs`
  console.log(
    `\nCPU per access line, end to end (${LINES.toLocaleString('en-US')} lines of a hit to a file, ` +
      `bursts of ${BURST}; the loop alone, ${loop.all.toFixed(2)} µs, taken off):\n` +
      `  pino child logger to pino.destination (before): ${us(was)} (${beforeBytes} bytes a line)\n` +
      `  access line to the log output (after):           ${us(is)} (${afterBytes} bytes a line)`,
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
