/**
 * Parses the edgecache command line into a command, its flags and its positionals. It
 * only reads argv: loading config and running the command are main.ts's job.
 */
import { parseArgs as parseNodeArgs } from 'node:util'
import type { FlagName, FlagValues } from '../config/schema.ts'
import { ProblemsError } from '../errors.ts'

/** The commands edgecache knows. `serve` runs when the first positional is not one of them. */
export const commands = ['serve', 'check-config', 'demo', 'purge', 'routes'] as const

/** One of `commands`. */
export type Command = (typeof commands)[number]

/** A parsed command line. */
export interface ParsedArgs {
  readonly command: Command
  /** Values of the config flags, ready for `loadConfig({ flags })`; `redis-url` and `redis-sentinel` as lists. */
  readonly flags: FlagValues
  /** `--help` or `-h` was given. */
  readonly help: boolean
  /** `--version` was given. */
  readonly version: boolean
  /** Arguments after the command that are not flags, such as check-config's FILE. */
  readonly positionals: readonly string[]
  /** The purge flags, present only when `command` is `purge`. */
  readonly purge?: PurgeFlags
  /** The `routes test` flags, present only when `command` is `routes`. */
  readonly routes?: RoutesFlags
}

/** What `edgecache routes test` sends through the router besides the URL. */
export interface RoutesFlags {
  /** `--method M`: the request method, as given. */
  readonly method?: string
  /** `--header 'K: V'`, repeatable: header fields, as given. */
  readonly headers: readonly string[]
}

/** What `edgecache purge` was asked to purge, and where to send the request. */
export interface PurgeFlags {
  /** `--tag`, repeatable. */
  readonly tags: readonly string[]
  /** `--url`, repeatable: absolute URLs. */
  readonly urls: readonly string[]
  /** `--prefix`, repeatable: absolute URL prefixes. */
  readonly prefixes: readonly string[]
  /** `--all`: purge everything. */
  readonly all: boolean
  /** `--soft`: mark stale instead of deleting. */
  readonly soft: boolean
  /** `--dry-run`: count only. */
  readonly dryRun: boolean
  /** `--admin URL`: the admin listener's base URL. */
  readonly admin?: string
  /** `--token T`: the admin bearer token (EDGECACHE_ADMIN_TOKEN keeps it out of `ps`). */
  readonly token?: string
}

type PurgeFlagName = 'tag' | 'url' | 'prefix' | 'admin' | 'token' | 'all' | 'soft' | 'dry-run'

/** The purge command's own flags: repeatable lists, single values and switches. */
const purgeFlags: Readonly<
  Record<
    PurgeFlagName,
    { readonly kind: 'list' | 'value' | 'switch'; readonly value: string; readonly doc: string }
  >
> = {
  tag: { kind: 'list', value: 'TAG', doc: 'purge entries with this tag (repeatable)' },
  url: { kind: 'list', value: 'URL', doc: 'purge every variant of this absolute URL (repeatable)' },
  prefix: { kind: 'list', value: 'URL', doc: 'purge URLs starting with this absolute URL (repeatable)' },
  all: { kind: 'switch', value: '', doc: 'purge everything' },
  soft: { kind: 'switch', value: '', doc: 'mark stale instead of deleting' },
  'dry-run': { kind: 'switch', value: '', doc: 'only count what would be purged' },
  admin: {
    kind: 'value',
    value: 'URL',
    doc: 'admin listener (default: admin.listen, http://127.0.0.1:9091)',
  },
  token: { kind: 'value', value: 'T', doc: 'admin token (default: EDGECACHE_ADMIN_TOKEN)' },
}

type RoutesFlagName = 'method' | 'header'

/** The routes command's own flags. */
const routesFlags: Readonly<
  Record<RoutesFlagName, { readonly kind: 'list' | 'value'; readonly value: string; readonly doc: string }>
> = {
  method: { kind: 'value', value: 'M', doc: 'request method for routes test (default GET)' },
  header: { kind: 'list', value: "'K: V'", doc: 'request header field for routes test (repeatable)' },
}

/** Each flag that takes a value, with its placeholder and a line for the usage text. */
const valueFlags: Readonly<Record<FlagName, { readonly value: string; readonly doc: string }>> = {
  upstream: { value: 'URL', doc: 'origin to proxy to (upstream.url)' },
  listen: { value: 'HOST:PORT', doc: 'where the proxy listens (listen)' },
  'admin-listen': { value: 'HOST:PORT', doc: 'where the admin endpoints listen (admin.listen)' },
  config: { value: 'FILE', doc: 'config file, .json, .yaml or .yml (also -c FILE)' },
  routes: { value: 'FILE', doc: 'route file, .json, .yaml or .yml (routes)' },
  'cache-dir': { value: 'DIR', doc: 'cache directory of the local store (storage.local.path)' },
  workers: { value: 'N', doc: 'worker processes (workers)' },
  'log-level': { value: 'LEVEL', doc: 'fatal, error, warn, info, debug, trace or silent (log.level)' },
  store: { value: 'DRIVER', doc: 'local (the default), memory, redis or tiered (storage.driver)' },
  'redis-url': {
    value: 'URL',
    doc: 'Redis server (storage.redis.url); repeat for Cluster seeds (storage.redis.cluster)',
  },
  'redis-sentinel': {
    value: 'URL',
    doc: 'a Redis sentinel, repeatable (storage.redis.sentinel.sentinels); with --redis-sentinel-name',
  },
  'redis-sentinel-name': {
    value: 'NAME',
    doc: 'the master name the sentinels monitor (storage.redis.sentinel.name)',
  },
  'tls-listen': {
    value: 'HOST:PORT',
    doc: 'where the TLS listener listens (tls.listen, default 0.0.0.0:8443)',
  },
  'tls-cert': { value: 'FILE', doc: 'PEM certificate of the TLS listener, with --tls-key (tls.cert)' },
  'tls-key': { value: 'FILE', doc: 'PEM private key of --tls-cert (tls.key)' },
  'tls-client-ca': { value: 'FILE', doc: 'PEM CAs client certificates must chain to (tls.clientCa)' },
  'tls-client-cert': { value: 'MODE', doc: 'none, request or require a client certificate (tls.clientCert)' },
}

const serveFlags: readonly FlagName[] = [
  'upstream',
  'listen',
  'admin-listen',
  'config',
  'routes',
  'cache-dir',
  'workers',
  'log-level',
  'store',
  'redis-url',
  'redis-sentinel',
  'redis-sentinel-name',
  'tls-listen',
  'tls-cert',
  'tls-key',
  'tls-client-ca',
  'tls-client-cert',
]

/** The value flags each command accepts; `--help` and `--version` go with every command. */
const commandFlags: Readonly<Record<Command, readonly FlagName[]>> = {
  serve: serveFlags,
  demo: serveFlags,
  'check-config': [],
  purge: ['config'],
  routes: ['admin-listen', 'config', 'routes'],
}

const options = {
  ...Object.fromEntries(Object.keys(valueFlags).map((name) => [name, { type: 'string' as const }])),
  config: { type: 'string', short: 'c' },
  ...Object.fromEntries(
    [...Object.entries(purgeFlags), ...Object.entries(routesFlags)].map(([name, { kind }]) => [
      name,
      kind === 'switch'
        ? { type: 'boolean' as const }
        : { type: 'string' as const, multiple: kind === 'list' },
    ]),
  ),
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

function isCommand(word: string | undefined): word is Command {
  return (commands as readonly (string | undefined)[]).includes(word)
}

function isValueFlag(name: string): name is FlagName {
  return Object.hasOwn(valueFlags, name)
}

function isPurgeFlag(name: string): name is PurgeFlagName {
  return Object.hasOwn(purgeFlags, name)
}

function isRoutesFlag(name: string): name is RoutesFlagName {
  return Object.hasOwn(routesFlags, name)
}

/** One edit apart, a transposition, or one a prefix of the other: `serv`, `purg`, `demmo`, `chekc-config`. */
function closeEnough(word: string, known: string): boolean {
  if (word.length >= 3 && (known.startsWith(word) || word.startsWith(known))) return true
  if (Math.abs(word.length - known.length) > 1) return false
  let i = 0
  while (i < word.length && word[i] === known[i]) i++
  const rest = (a: string, b: string) => word.slice(i + a.length) === known.slice(i + b.length)
  const swapped = word[i] === known[i + 1] && word[i + 1] === known[i] && rest('xx', 'xx')
  return swapped || rest('x', 'x') || rest('x', '') || rest('', 'x')
}

/** A value flag's value, or undefined when it is missing (or is really the next flag). */
function flagValue(token: {
  value?: string | undefined
  inlineValue?: boolean | undefined
}): string | undefined {
  const { value, inlineValue } = token
  return value === undefined || (inlineValue !== true && value.startsWith('--')) ? undefined : value
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
  const flags: { -readonly [K in keyof FlagValues]: FlagValues[K] } = {}
  const redisUrls: string[] = []
  const sentinelUrls: string[] = []
  const purge = { tags: [] as string[], urls: [] as string[], prefixes: [] as string[] }
  const purgeValues: { admin?: string; token?: string } = {}
  const switches = new Set<PurgeFlagName>()
  const routes: { method?: string; headers: string[] } = { headers: [] }
  const problems: string[] = []
  let help = false
  let version = false
  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const { name, rawName, value } = token
    if (name === 'help' || name === 'version') {
      if (value !== undefined) problems.push(`${rawName}: takes no value`)
      else if (name === 'help') help = true
      else version = true
    } else if (isPurgeFlag(name)) {
      const flag = purgeFlags[name]
      const given = flagValue(token)
      if (command !== 'purge') problems.push(`${rawName}: not a flag of ${command}`)
      else if (flag.kind === 'switch') {
        if (value !== undefined) problems.push(`${rawName}: takes no value`)
        else switches.add(name)
      } else if (given === undefined) problems.push(`${rawName}: expected ${flag.value}`)
      else if (name === 'tag') purge.tags.push(given)
      else if (name === 'url') purge.urls.push(given)
      else if (name === 'prefix') purge.prefixes.push(given)
      else if (name === 'admin' || name === 'token') purgeValues[name] = given
    } else if (isRoutesFlag(name)) {
      const given = flagValue(token)
      if (command !== 'routes') problems.push(`${rawName}: not a flag of ${command}`)
      else if (given === undefined) problems.push(`${rawName}: expected ${routesFlags[name].value}`)
      else if (name === 'header') routes.headers.push(given)
      else routes.method = given
    } else if (!isValueFlag(name)) {
      problems.push(`${rawName}: unknown flag`)
    } else if (!accepted.has(name)) {
      problems.push(`${rawName}: not a flag of ${command}`)
    } else {
      const given = flagValue(token)
      if (given === undefined) problems.push(`${rawName}: expected ${valueFlags[name].value}`)
      else if (name === 'redis-url') {
        redisUrls.push(given)
        flags[name] = redisUrls
      } else if (name === 'redis-sentinel') {
        sentinelUrls.push(given)
        flags[name] = sentinelUrls
      } else flags[name] = given
    }
  }
  // serve takes no words: one here is a mistyped command, not something to serve with
  // (unless it is the value of an unknown flag, reported above).
  if (problems.length === 0 && command === 'serve' && positionals.length > 0) {
    const word = positionals[0] ?? ''
    const meant = commands.find((known) => closeEnough(word, known))
    const hint = meant === undefined ? '' : `; did you mean ${meant}?`
    problems.push(`unknown command ${JSON.stringify(word)}${hint} (commands: ${commands.join(', ')})`)
  }
  if (problems.length > 0) throw new ProblemsError('EC_ERR_CLI_USAGE', problems)
  if (command === 'routes') return { command, flags, help, version, positionals, routes }
  if (command !== 'purge') return { command, flags, help, version, positionals }
  const purgeArgs: PurgeFlags = {
    ...purge,
    all: switches.has('all'),
    soft: switches.has('soft'),
    dryRun: switches.has('dry-run'),
    ...purgeValues,
  }
  return { command, flags, help, version, positionals, purge: purgeArgs }
}

/** Usage text for `--help`: the commands, and the flags `command` takes. */
export function formatUsage(command: Command = 'serve'): string {
  const lines = [
    'usage: edgecache [serve] [flags]',
    '       edgecache check-config FILE',
    '       edgecache purge (--tag TAG | --url URL | --prefix URL)... [flags]',
    '       edgecache purge --all [flags]',
    "       edgecache routes test [--config FILE | --routes FILE] URL [--method M] [--header 'K: V']...",
    '       edgecache demo [flags]',
    '',
    `flags for ${command}:`,
  ]
  const entries: [string, string][] = commandFlags[command].map((name) => [
    `${name} ${valueFlags[name].value}`,
    valueFlags[name].doc,
  ])
  if (command === 'purge') {
    for (const [name, { value, doc }] of Object.entries(purgeFlags)) {
      entries.push([value === '' ? name : `${name} ${value}`, doc])
    }
  }
  if (command === 'routes') {
    for (const [name, { value, doc }] of Object.entries(routesFlags)) entries.push([`${name} ${value}`, doc])
  }
  entries.push(['help, -h', 'show this text'], ['version, -v', 'print the version'])
  // Two spaces past the longest flag, so every description starts in one column.
  const width = Math.max(...entries.map(([flag]) => flag.length)) + 2
  for (const [flag, doc] of entries) lines.push(`  --${flag.padEnd(width)}${doc}`)
  return `${lines.join('\n')}\n`
}
