/**
 * Parses the edgecache command line into a command, its flags and its positionals. It
 * only reads argv: loading config and running the command are main.ts's job.
 */
import { parseArgs as parseNodeArgs } from 'node:util'
import type { FlagName } from '../config/schema.ts'
import { ProblemsError } from '../errors.ts'

/** The commands edgecache knows. `serve` runs when the first positional is not one of them. */
export const commands = ['serve', 'check-config', 'demo', 'purge', 'routes'] as const

/** One of `commands`. */
export type Command = (typeof commands)[number]

/** A parsed command line. */
export interface ParsedArgs {
  readonly command: Command
  /** Values of the config flags, ready for `loadConfig({ flags })`. */
  readonly flags: Readonly<Partial<Record<FlagName, string>>>
  /** `--help` or `-h` was given. */
  readonly help: boolean
  /** `--version` was given. */
  readonly version: boolean
  /** Arguments after the command that are not flags, such as check-config's FILE. */
  readonly positionals: readonly string[]
}

/** Each flag that takes a value, with its placeholder and a line for the usage text. */
const valueFlags: Readonly<Record<FlagName, { readonly value: string; readonly doc: string }>> = {
  upstream: { value: 'URL', doc: 'origin to proxy to (upstream.url)' },
  listen: { value: 'HOST:PORT', doc: 'where the proxy listens (listen)' },
  'admin-listen': { value: 'HOST:PORT', doc: 'where the admin endpoints listen (admin.listen)' },
  config: { value: 'FILE', doc: 'config file, .json, .yaml or .yml' },
  workers: { value: 'N', doc: 'worker processes (workers)' },
  'log-level': { value: 'LEVEL', doc: 'fatal, error, warn, info, debug, trace or silent (log.level)' },
}

const serveFlags: readonly FlagName[] = [
  'upstream',
  'listen',
  'admin-listen',
  'config',
  'workers',
  'log-level',
]

/** The value flags each command accepts; `--help` and `--version` go with every command. */
const commandFlags: Readonly<Record<Command, readonly FlagName[]>> = {
  serve: serveFlags,
  demo: serveFlags,
  'check-config': [],
  purge: ['admin-listen', 'config'],
  routes: ['admin-listen', 'config'],
}

const options = {
  ...Object.fromEntries(Object.keys(valueFlags).map((name) => [name, { type: 'string' as const }])),
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const

function isCommand(word: string | undefined): word is Command {
  return (commands as readonly (string | undefined)[]).includes(word)
}

function isValueFlag(name: string): name is FlagName {
  return Object.hasOwn(valueFlags, name)
}

/**
 * Parses `argv` (without the node and script paths). Every problem is collected first.
 *
 * @throws ProblemsError `EC_ERR_CLI_USAGE` for unknown flags, flags the command does not
 *   take, and flags missing their value; each problem names the flag.
 * @example
 * parseArgs(['--upstream', 'http://127.0.0.1:8080'])
 * // { command: 'serve', flags: { upstream: 'http://127.0.0.1:8080' }, help: false, version: false, positionals: [] }
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  // Not strict, so every unknown flag is reported at once rather than only the first.
  const { tokens } = parseNodeArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  })
  const words = tokens.flatMap((token) => (token.kind === 'positional' ? [token.value] : []))
  const command = isCommand(words[0]) ? words[0] : 'serve'
  const positionals = command === words[0] ? words.slice(1) : words
  const accepted = new Set<string>(commandFlags[command])
  const flags: Partial<Record<FlagName, string>> = {}
  const problems: string[] = []
  let help = false
  let version = false
  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const { name, rawName, value, inlineValue } = token
    if (name === 'help' || name === 'version') {
      if (value !== undefined) problems.push(`${rawName}: takes no value`)
      else if (name === 'help') help = true
      else version = true
    } else if (!isValueFlag(name)) {
      problems.push(`${rawName}: unknown flag`)
    } else if (!accepted.has(name)) {
      problems.push(`${rawName}: not a flag of ${command}`)
    } else if (value === undefined || (inlineValue !== true && value.startsWith('--'))) {
      problems.push(`${rawName}: expected ${valueFlags[name].value}`)
    } else {
      flags[name] = value
    }
  }
  if (problems.length > 0) throw new ProblemsError('EC_ERR_CLI_USAGE', problems)
  return { command, flags, help, version, positionals }
}

/** Usage text for `--help`: the commands, and the flags `command` takes. */
export function formatUsage(command: Command = 'serve'): string {
  const lines = [
    'usage: edgecache [serve] [flags]',
    '       edgecache check-config FILE',
    '       edgecache demo | purge | routes [flags]',
    '',
    `flags for ${command}:`,
  ]
  for (const name of commandFlags[command]) {
    const { value, doc } = valueFlags[name]
    lines.push(`  --${`${name} ${value}`.padEnd(24)}${doc}`)
  }
  lines.push(`  --${'help, -h'.padEnd(24)}show this text`, `  --${'version'.padEnd(24)}print the version`)
  return `${lines.join('\n')}\n`
}
