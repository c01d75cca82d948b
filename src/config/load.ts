/**
 * Builds the one validated, deep-frozen Config from its sources, in rising precedence:
 * schema defaults < file (JSON or YAML) < EDGECACHE_* env < command-line flags. Every
 * problem is collected and named by where it came from (field path, env variable or
 * flag) before anything throws. This is the only module that reads process.env.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import type { z } from 'zod'
import { EdgecacheError, hasCode, ProblemsError } from '../errors.ts'
import { isServiceLink, nearestName } from './env-names.ts'
import { bearerTokenProblem, show } from './fields.ts'
import { type Config, configSchema, type FieldInfo, type FlagValues, listFields } from './schema.ts'
import { lazyRequire } from '../lazy-require.ts'

/** Loaded for the first YAML file only. */
const yaml = lazyRequire<typeof import('yaml')>('yaml')

export type { Config, FlagName, FlagValues } from './schema.ts'

/** Where config comes from. Each source is optional; flags beat env, env beats the file. */
export interface ConfigSources {
  /** Config file path, `.json`, `.yaml` or `.yml`. `flags.config` wins over it, and it over `EDGECACHE_CONFIG`. */
  file?: string
  /** @default process.env */
  env?: NodeJS.ProcessEnv
  /** Flag values as given, keyed by flag name without the dashes; a repeatable flag's as a list. */
  flags?: FlagValues
  /**
   * Told of what is ignored but probably meant something (an unknown `EDGECACHE_*`
   * variable), once the config is valid. Unset: ignored in silence.
   */
  onWarning?: (message: string) => void
}

/** Env variables with the EDGECACHE_ prefix that are not config fields but are read elsewhere. */
const otherEnvNames = new Set(['EDGECACHE_CONFIG', 'EDGECACHE_UPSTREAM', 'EDGECACHE_ADMIN_TOKEN'])

type Tree = Record<string, unknown>

/**
 * Loads, merges and validates config, then deep-freezes it.
 *
 * @throws EdgecacheError `EC_ERR_CONFIG_FILE` when the file cannot be read or parsed, and
 *   ProblemsError `EC_ERR_CONFIG_INVALID`, listing every problem in `problems`, when invalid.
 * @example
 * const config = loadConfig({ env: process.env, flags: { upstream: 'http://127.0.0.1:8080' } })
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env
  const flags = sources.flags ?? {}
  const fields = listFields()
  const problems: string[] = []
  // Dotted path → the env variable or flag that set it, so a bad value is reported by that name.
  const origins = new Map<string, string>()

  const file = flags.config ?? sources.file ?? nonEmpty(env.EDGECACHE_CONFIG)
  let tree: Tree = {}
  if (file !== undefined) {
    const content = readConfigFile(file)
    if (isTree(content)) tree = content
    else if (content !== null && content !== undefined) {
      problems.push(`${file}: expected a mapping of config fields, got ${show(content)}`)
    }
  }
  const warnings: string[] = []
  tree = applyEnv(tree, env, fields, origins, problems, warnings)
  tree = applyFlags(tree, flags, fields, origins, problems)

  const result = configSchema.safeParse(tree, { reportInput: true })
  if (!result.success) {
    const secrets = fields.filter((field) => field.meta.secret === true).map((field) => field.path)
    for (const issue of result.error.issues) problems.push(...describeIssue(issue, origins, secrets, fields))
  }
  if (problems.length > 0 || !result.success) throw new ProblemsError('EC_ERR_CONFIG_INVALID', problems)
  const config = withTokenFile(result.data, problems)
  checkPemFiles(config, problems)
  if (problems.length > 0) throw new ProblemsError('EC_ERR_CONFIG_INVALID', problems)
  for (const warning of warnings) sources.onWarning?.(warning)
  return deepFreeze(config)
}

/**
 * Adds the tokens of `admin.tokenFile` to `admin.tokens`. Read here rather than in the
 * schema, which only describes; read at every load, so a reload picks up a rotated file.
 * Problems name the file and the line, never the line's text: it is a secret.
 */
function withTokenFile(config: Config, problems: string[]): Config {
  const path = config.admin.tokenFile
  if (path === undefined) return config
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    problems.push(`admin.tokenFile: cannot read ${path}: ${(err as Error).message}`)
    return config
  }
  const tokens = [...config.admin.tokens]
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const problem = bearerTokenProblem(line)
    if (problem !== undefined) problems.push(`admin.tokenFile: ${path} line ${index + 1}: ${problem}`)
    else if (!tokens.includes(line)) tokens.push(line)
  }
  return { ...config, admin: { ...config.admin, tokens } }
}

/**
 * Checks that each PEM file the config names (Redis, the TLS listener, the upstreams'
 * client certificates) can be read and holds PEM, so a wrong path is a config error naming
 * the field rather than a TLS failure later. Read again where it is used; a reload reads
 * them again too, so a renewed certificate is checked before it is taken. Problems never
 * quote a file's content: a key is a secret.
 */
function checkPemFiles(config: Config, problems: string[]): void {
  const files: [string, string | undefined][] = []
  const redisTls = 'redis' in config.storage ? config.storage.redis.tls : undefined
  for (const field of ['ca', 'cert', 'key'] as const)
    files.push([`storage.redis.tls.${field}`, redisTls?.[field]])
  for (const field of ['cert', 'key', 'clientCa'] as const) files.push([`tls.${field}`, config.tls[field]])
  for (const [i, c] of config.tls.certificates.entries()) {
    files.push([`tls.certificates[${i}].cert`, c.cert], [`tls.certificates[${i}].key`, c.key])
  }
  for (const field of ['ca', 'cert', 'key'] as const)
    files.push([`upstream.tls.${field}`, config.upstream.tls[field]])
  for (const [name, pool] of Object.entries(config.upstreams)) {
    for (const field of ['cert', 'key'] as const)
      files.push([`upstreams.${name}.tls.${field}`, pool.tls[field]])
  }
  for (const [field, path] of files) {
    if (path === undefined) continue
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      problems.push(`${field}: cannot read ${path}: ${(err as Error).message}`)
      continue
    }
    if (!text.includes('-----BEGIN ')) {
      problems.push(`${field}: expected a PEM file (-----BEGIN ...), got ${path}`)
    }
  }
}

/**
 * Validates a config file as `edgecache check-config FILE` does: the file, plus env as it
 * would apply when serving (EDGECACHE_CONFIG is ignored; `path` is the file).
 */
export function checkConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; config: Config; warnings: string[] } | { ok: false; problems: string[] } {
  const warnings: string[] = []
  try {
    return { ok: true, config: loadConfig({ file: path, env, onWarning: (w) => warnings.push(w) }), warnings }
  } catch (err) {
    if (err instanceof ProblemsError) return { ok: false, problems: [...err.problems] }
    if (hasCode(err, 'EC_ERR_CONFIG_FILE')) return { ok: false, problems: [err.message] }
    throw err
  }
}

function readConfigFile(file: string): unknown {
  const extension = extname(file).toLowerCase()
  if (extension !== '.json' && extension !== '.yaml' && extension !== '.yml') {
    throw new EdgecacheError('EC_ERR_CONFIG_FILE', [file, 'expected a .json, .yaml or .yml file'])
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new EdgecacheError('EC_ERR_CONFIG_FILE', [file, (err as Error).message], { cause: err })
  }
  try {
    return extension === '.json' ? JSON.parse(text) : yaml().parse(text)
  } catch (err) {
    const kind = extension === '.json' ? 'JSON' : 'YAML'
    // yaml's message is "<problem> at line L, column C:" and then a source excerpt; keep the first line.
    const detail = ((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')
    throw new EdgecacheError('EC_ERR_CONFIG_FILE', [file, `${kind} syntax error: ${detail}`], { cause: err })
  }
}

function applyEnv(
  tree: Tree,
  env: NodeJS.ProcessEnv,
  fields: readonly FieldInfo[],
  origins: Map<string, string>,
  problems: string[],
  warnings: string[],
): Tree {
  // Fields under user-chosen names (upstreams.<name>.…) have no variable.
  const byEnvName = new Map(
    fields.filter((field) => field.envName !== '').map((field) => [field.envName, field]),
  )
  let merged = tree
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('EDGECACHE_') || raw === undefined) continue
    const field = byEnvName.get(name)
    if (field === undefined) {
      // Not fatal: an orchestrator may set names of its own under the prefix.
      if (!otherEnvNames.has(name) && !isServiceLink(name)) {
        const meant = nearestName(name, [...byEnvName.keys(), ...otherEnvNames])
        warnings.push(
          `${name}: unknown variable, ignored${meant === undefined ? '' : `; did you mean ${meant}?`}`,
        )
      }
      continue
    }
    // An empty variable counts as unset, except that it empties a list.
    if (raw === '' && field.meta.kind !== 'list') continue
    merged = setPath(merged, field.path, coerce(field, raw))
    origins.set(field.path.join('.'), name)
  }
  const alias = nonEmpty(env.EDGECACHE_UPSTREAM)
  if (alias !== undefined) {
    const url = nonEmpty(env.EDGECACHE_UPSTREAM__URL)
    if (url === undefined) {
      merged = setPath(merged, ['upstream', 'url'], alias)
      origins.set('upstream.url', 'EDGECACHE_UPSTREAM')
    } else if (url !== alias) {
      problems.push('EDGECACHE_UPSTREAM: conflicts with EDGECACHE_UPSTREAM__URL; set one of them')
    }
  }
  // EDGECACHE_ADMIN_TOKEN is the name operators expect; EDGECACHE_ADMIN__TOKENS is the generic one.
  const tokens = nonEmpty(env.EDGECACHE_ADMIN_TOKEN)
  if (tokens !== undefined) {
    const list = splitList(tokens)
    const generic = env.EDGECACHE_ADMIN__TOKENS
    if (generic === undefined) {
      merged = setPath(merged, ['admin', 'tokens'], list)
      origins.set('admin.tokens', 'EDGECACHE_ADMIN_TOKEN')
    } else if (splitList(generic).join(',') !== list.join(',')) {
      problems.push('EDGECACHE_ADMIN_TOKEN: conflicts with EDGECACHE_ADMIN__TOKENS; set one of them')
    }
  }
  return merged
}

function applyFlags(
  tree: Tree,
  flags: FlagValues,
  fields: readonly FieldInfo[],
  origins: Map<string, string>,
  problems: string[],
): Tree {
  const byFlag = new Map(
    fields.filter((field) => field.flag !== undefined).map((field) => [field.flag as string, field]),
  )
  let merged = tree
  // Each flag switches the topology, so together they contradict each other.
  const bothTopologies = flags['redis-url'] !== undefined && flags['redis-sentinel'] !== undefined
  if (bothTopologies) {
    problems.push('--redis-sentinel: give --redis-url or --redis-sentinel, not both')
  } else if (flags['redis-url'] !== undefined && flags['redis-sentinel-name'] !== undefined) {
    problems.push('--redis-sentinel-name: not with --redis-url, which replaces any sentinel')
  }
  for (const [flag, raw] of Object.entries(flags)) {
    if (raw === undefined || flag === 'config') continue
    if (flag === 'redis-url') {
      merged = applyRedisUrls(merged, raw as readonly string[], origins)
      continue
    }
    if (flag === 'redis-sentinel') {
      // Already reported; applying it too would add problems that only follow from that one.
      if (!bothTopologies) merged = applyRedisSentinels(merged, raw as readonly string[], origins)
      continue
    }
    if (flag === 'redis-sentinel-name' && flags['redis-url'] !== undefined) continue
    const field = byFlag.get(flag)
    if (field === undefined || typeof raw !== 'string') {
      problems.push(`--${flag}: unknown flag`)
      continue
    }
    merged = setPath(merged, field.path, coerce(field, raw))
    origins.set(field.path.join('.'), `--${flag}`)
  }
  return merged
}

/**
 * `--redis-url`, given once, is `storage.redis.url`; given several times, the seeds of
 * `storage.redis.cluster`. Either way it replaces the file's and env's url, cluster and
 * sentinel, so a flag can switch between a single server and a Cluster.
 */
function applyRedisUrls(tree: Tree, urls: readonly string[], origins: Map<string, string>): Tree {
  if (urls.length === 0) return tree
  const [url, cluster] = urls.length === 1 ? [urls[0], []] : [undefined, [...urls]]
  let merged = setPath(tree, ['storage', 'redis', 'url'], url)
  merged = setPath(merged, ['storage', 'redis', 'cluster'], cluster)
  const redis = isTree(merged.storage) ? merged.storage.redis : undefined
  if (isTree(redis) && redis.sentinel !== undefined)
    merged = setPath(merged, ['storage', 'redis', 'sentinel'], undefined)
  origins.set(urls.length === 1 ? 'storage.redis.url' : 'storage.redis.cluster', '--redis-url')
  return merged
}

/**
 * Each `--redis-sentinel` is one of `storage.redis.sentinel.sentinels`. They replace the
 * file's and env's url and cluster (and sentinels), keeping a sentinel name given there.
 */
function applyRedisSentinels(tree: Tree, urls: readonly string[], origins: Map<string, string>): Tree {
  if (urls.length === 0) return tree
  let merged = setPath(tree, ['storage', 'redis', 'url'], undefined)
  merged = setPath(merged, ['storage', 'redis', 'cluster'], [])
  merged = setPath(merged, ['storage', 'redis', 'sentinel', 'sentinels'], [...urls])
  origins.set('storage.redis.sentinel.sentinels', '--redis-sentinel')
  return merged
}

/** A number as env and flags write one: decimal digits, a sign and a fraction at most. */
const DECIMAL = /^-?\d+(?:\.\d+)?$/

/** Turns text from env or a flag into what a file would hold: a number, a list or the text itself. */
function coerce(field: FieldInfo, raw: string): unknown {
  switch (field.meta.kind) {
    case 'integer':
    case 'number': {
      // Decimal digits only (Number() would take 0x2, 1e3 and the empty text as numbers).
      // Text that is not a number stays text, so the message quotes what was given.
      const text = raw.trim()
      return DECIMAL.test(text) ? Number(text) : raw
    }
    case 'boolean':
      // Anything but the two words stays text, so the message quotes what was given.
      return raw === 'true' ? true : raw === 'false' ? false : raw
    case 'list':
      return splitList(raw)
    default:
      return raw
  }
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** Returns a copy of `tree` with `value` at `path`, copying each object on the way down. */
function setPath(tree: Tree, path: readonly string[], value: unknown): Tree {
  const [key, ...rest] = path
  if (key === undefined) return tree
  const child = tree[key]
  return { ...tree, [key]: rest.length === 0 ? value : setPath(isTree(child) ? child : {}, rest, value) }
}

/**
 * Renders one zod issue as `path: problem` lines, naming the env variable or flag when one
 * set the value. Under a secret field (`secrets`), the value given is never repeated.
 */
function describeIssue(
  issue: z.core.$ZodIssue,
  origins: ReadonlyMap<string, string>,
  secrets: readonly (readonly string[])[],
  fields: readonly FieldInfo[],
): string[] {
  const where = (path: readonly PropertyKey[]): string => {
    for (let end = path.length; end > 0; end--) {
      const origin = origins.get(path.slice(0, end).join('.'))
      if (origin !== undefined) return origin
    }
    return formatPath(path)
  }
  const secret = secrets.some((prefix) => prefix.every((key, index) => issue.path[index] === key))
  if (secret) {
    // Leaf messages of secret fields never quote the value; an invalid_type one would.
    const message =
      issue.code === 'invalid_type' ? `expected ${words(issue.expected)} (value not shown)` : issue.message
    return [`${where(issue.path)}: ${message}`]
  }
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        // A block another option of a union has, such as `storage.redis` under `driver: memory`.
        const prefix = [...issue.path, key].join('.')
        const other = fields.find((field) => {
          const dotted = field.path.join('.')
          return field.when !== undefined && (dotted === prefix || dotted.startsWith(`${prefix}.`))
        })
        const hint = other === undefined ? '' : ` (used only with ${other.when})`
        return `${where([...issue.path, key])}: unknown field${hint}`
      })
    case 'invalid_type':
      return [`${where(issue.path)}: expected ${words(issue.expected)}, got ${show(issue.input)}`]
    case 'invalid_union': {
      if (issue.discriminator !== undefined) {
        const options = 'options' in issue ? (issue.options ?? []).filter((option) => option != null) : []
        const given = isTree(issue.input) ? issue.input[issue.discriminator] : issue.input
        return [`${where(issue.path)}: expected one of ${options.join(', ')}, got ${show(given)}`]
      }
      return [`${where(issue.path)}: ${issue.message}`]
    }
    default:
      return [`${where(issue.path)}: ${issue.message}`]
  }
}

function words(expected: string): string {
  return expected === 'object' ? 'a mapping' : expected === 'array' ? 'a list' : expected
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = ''
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`
    else text += text === '' ? String(key) : `.${String(key)}`
  }
  return text === '' ? '(config)' : text
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
