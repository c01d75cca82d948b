/**
 * The command line of `npm run bench`: what to run (cases, targets, connection counts) and
 * how long. Validates every flag and names the one that is wrong.
 */
import { parseArgs } from 'node:util'
import { CASE_IDS, CASES, type CaseDef, type CaseId } from './cases.ts'
import type { LoadTool } from './load.ts'
import { LOG_LEVEL, LOG_LEVELS, type LogLevel, TARGET_IDS, type TargetId } from './targets.ts'

export interface Settings {
  readonly cases: readonly CaseDef[]
  readonly targets: readonly TargetId[]
  /** Connection counts for every case; undefined: each case's own (CaseDef.defaultConnections). */
  readonly connections: readonly number[] | undefined
  readonly rounds: number
  readonly durationS: number
  readonly warmupS: number
  readonly retryBudgetS: number
  readonly threads: number
  readonly tool: LoadTool['name'] | undefined
  readonly quick: boolean
  /** `--c10k`: 10,000 connections on the 1 KiB hit instead of the comparison. */
  readonly c10k: boolean
  /** edgecache's `--log-level`: below warn (info, debug, trace), logs go to a file. */
  readonly logLevel: LogLevel
}

/** Targets of `--c10k` when `--targets` is not given: every core, edgecache and the rivals. */
export const C10K_TARGETS: readonly TargetId[] = ['edgecache-all', 'bare-all', 'nginx', 'varnish']
export const C10K_CONNECTIONS = 10_000

/** The flags' defaults; `--quick` and `--c10k` change some of them (an explicit flag still wins). */
const DEFAULTS = { duration: 2, warmup: 1, rounds: 3 }
const QUICK = { duration: 1, warmup: 0, rounds: 1 }
const C10K = { duration: 10, warmup: 0, rounds: 1, threads: 4 }

export const USAGE = `usage: npm run bench -- [flags]

  --cases LIST        ${CASE_IDS.join(',')} (default: all)
  --targets LIST      ${TARGET_IDS.join(',')}
                      (default: all; nginx, varnish and the Redis stores when installed)
  --connections LIST  e.g. 64,1024 for every case (default: 64, and 1024 for hit-1k and miss-10ms)
  --rounds N          rounds, interleaved: every run of a round before the next round (${DEFAULTS.rounds})
  --duration S        seconds per measured run (${DEFAULTS.duration})
  --warmup S          seconds of load before each measured run, 0 for none (${DEFAULTS.warmup})
  --quick             smoke run: --duration ${QUICK.duration} --warmup ${QUICK.warmup} --rounds ${QUICK.rounds}
  --c10k              ${C10K_CONNECTIONS.toLocaleString('en-US')} connections on the 1 KiB hit (targets: ${C10K_TARGETS.join(',')};
                      --duration ${C10K.duration}, ${C10K.threads} wrk threads)
  --threads N         wrk threads (1)
  --tool wrk|autocannon   load tool (default: wrk when installed)
  --retry-budget S    seconds for re-running runs that other processes disturbed (30)
  --log-level LEVEL   edgecache's log level (${LOG_LEVEL}); info writes an access line per request,
                      to a log file (log.file) in a temp directory, as the defaults do
`

export function readSettings(argv: readonly string[]): Settings {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      cases: { type: 'string' },
      targets: { type: 'string' },
      connections: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      c10k: { type: 'boolean', default: false },
      threads: { type: 'string' },
      tool: { type: 'string' },
      'retry-budget': { type: 'string', default: '30' },
      'log-level': { type: 'string', default: LOG_LEVEL },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const base = values.c10k ? C10K : values.quick ? QUICK : DEFAULTS
  const integer = (name: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name}: expected an integer ≥ ${min}, got "${raw}"`)
    return n
  }
  const list = <T extends string>(name: string, raw: string | undefined, known: readonly T[]) => {
    if (raw === undefined) return undefined
    const items = raw.split(',').map((s) => s.trim())
    for (const item of items) {
      if (!(known as readonly string[]).includes(item)) {
        throw new Error(`--${name}: unknown "${item}", expected some of ${known.join(', ')}`)
      }
    }
    return items as T[]
  }
  if (values.tool !== undefined && values.tool !== 'wrk' && values.tool !== 'autocannon') {
    throw new Error(`--tool: expected wrk or autocannon, got "${values.tool}"`)
  }
  const logLevel = values['log-level']
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new Error(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`)
  }
  const caseIds = list<CaseId>('cases', values.cases, CASE_IDS)
  const targets = list<TargetId>('targets', values.targets, TARGET_IDS)
  const connections = values.connections?.split(',').map((raw) => integer('connections', raw, 0, 1))
  if (values.c10k && (caseIds !== undefined || connections !== undefined)) {
    throw new Error(
      `--c10k: runs the 1 KiB hit at ${C10K_CONNECTIONS} connections; drop --cases and --connections`,
    )
  }
  return {
    cases: caseIds === undefined ? CASES : CASES.filter((c) => caseIds.includes(c.id)),
    // Keep the catalogue's order whatever order the flag gave.
    targets:
      targets === undefined
        ? values.c10k
          ? C10K_TARGETS
          : TARGET_IDS
        : TARGET_IDS.filter((t) => targets.includes(t)),
    connections,
    rounds: integer('rounds', values.rounds, base.rounds, 1),
    durationS: integer('duration', values.duration, base.duration, 1),
    warmupS: integer('warmup', values.warmup, base.warmup, 0),
    retryBudgetS: integer('retry-budget', values['retry-budget'], 30, 0),
    threads: integer('threads', values.threads, values.c10k ? C10K.threads : 1, 1),
    tool: values.tool,
    quick: values.quick,
    c10k: values.c10k,
    logLevel: logLevel as LogLevel,
  }
}
