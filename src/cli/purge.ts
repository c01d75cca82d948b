/**
 * `edgecache purge`: sends one `POST /invalidate` to a running edgecache's admin listener
 * and prints what it answered. It purges nothing itself; the admin API checks the token
 * and the request. Exit codes: 0 done, 1 refused or unreachable (or a bad config file),
 * 2 usage error.
 */
import { Agent, request } from 'undici'
import { loadConfig } from '../config/load.ts'
import type { ListenAddress } from '../config/schema.ts'
import { EdgecacheError } from '../errors.ts'
import { cliUserAgent } from '../surrogate/invalidator.ts'
import type { ParsedArgs, PurgeFlags } from './args.ts'

/** Where runPurge writes: process.stdout and process.stderr, or a test's buffer. */
export interface Output {
  write(text: string): unknown
}

/** Used when neither --admin nor a config file says where the admin listener is. */
export const defaultAdminUrl = 'http://127.0.0.1:9091'

const USAGE_HINT = 'name what to purge with --tag TAG, --url URL or --prefix URL (each repeatable), or --all'

/**
 * Runs `edgecache purge` with parsed arguments and returns the exit code.
 *
 * The token is `--token`, else `EDGECACHE_ADMIN_TOKEN` (the first, if several are
 * comma-separated), else the first of the config file's `admin.tokens`. The admin URL is
 * `--admin`, else the config file's `admin.listen`, else http://127.0.0.1:9091. A config
 * file is `--config FILE` or `EDGECACHE_CONFIG`, and is read only when one of the two is
 * still missing.
 *
 * @example
 * process.exitCode = await runPurge(parseArgs(['purge', '--tag', 'product:42']), process.env, process.stdout, process.stderr)
 */
export async function runPurge(
  args: ParsedArgs,
  env: NodeJS.ProcessEnv,
  out: Output,
  err: Output,
): Promise<number> {
  const usage = (problem: string): number => {
    err.write(`edgecache purge: ${problem}\n`)
    return 2
  }
  const flags = args.purge
  if (flags === undefined) return usage(USAGE_HINT)
  const [extra] = args.positionals
  if (extra !== undefined) return usage(`unexpected argument ${JSON.stringify(extra)}; ${USAGE_HINT}`)
  const selects = flags.tags.length + flags.urls.length + flags.prefixes.length > 0
  if (!selects && !flags.all) return usage(`nothing to purge; ${USAGE_HINT}`)
  if (selects && flags.all) return usage('--all purges everything; give it without --tag, --url or --prefix')
  for (const [flag, list] of [
    ['--tag', flags.tags],
    ['--url', flags.urls],
    ['--prefix', flags.prefixes],
  ] as const) {
    for (const value of list) {
      if (value === '') return usage(`${flag}: must not be empty`)
      if (flag !== '--tag' && !isHttpUrl(value)) {
        return usage(`${flag}: expected an absolute http:// or https:// URL, got ${JSON.stringify(value)}`)
      }
    }
  }

  let admin = flags.admin
  let token = flags.token ?? firstToken(env.EDGECACHE_ADMIN_TOKEN)
  const file = args.flags.config ?? nonEmpty(env.EDGECACHE_CONFIG)
  if (file !== undefined && (admin === undefined || token === undefined)) {
    let fromFile: { admin: string; token: string | undefined }
    try {
      const config = loadConfig({ env, flags: { config: file } })
      fromFile = { admin: adminUrlOf(config.admin.listen), token: config.admin.tokens[0] }
    } catch (error) {
      const problems = (error as { problems?: readonly string[] }).problems ?? [(error as Error).message]
      for (const problem of problems) err.write(`edgecache purge: ${problem}\n`)
      return 1
    }
    admin ??= fromFile.admin
    token ??= fromFile.token
  }
  admin ??= defaultAdminUrl
  if (!isHttpUrl(admin)) {
    return usage(`--admin: expected an http:// or https:// URL, got ${JSON.stringify(admin)}`)
  }
  if (token === undefined) {
    return usage('no admin token; pass --token T or set EDGECACHE_ADMIN_TOKEN')
  }
  return send(admin, token, bodyOf(flags), out, err)
}

async function send(admin: string, token: string, body: object, out: Output, err: Output): Promise<number> {
  const url = new URL(admin)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/invalidate`
  const agent = new Agent({ connect: { timeout: 10_000 } })
  try {
    let status: number
    let text: string
    try {
      const res = await request(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          // So the status page lists this purge as the CLI's.
          'user-agent': cliUserAgent,
        },
        body: JSON.stringify(body),
        dispatcher: agent,
      })
      status = res.statusCode
      text = await res.body.text()
    } catch (error) {
      const unreachable = new EdgecacheError(
        'EC_ERR_CLI_ADMIN_UNREACHABLE',
        [admin, (error as Error).message],
        {
          cause: error,
        },
      )
      err.write(`edgecache purge: ${unreachable.message}\n`)
      return 1
    }
    const answer = parseJson(text)
    if (status !== 200) {
      const message = typeof answer?.error === 'string' ? answer.error : text.trim().slice(0, 200)
      err.write(`edgecache purge: ${message} (HTTP ${status})\n`)
      return 1
    }
    if (typeof answer?.purged !== 'number') {
      err.write(`edgecache purge: unexpected answer from ${admin}: ${text.trim().slice(0, 200)}\n`)
      return 1
    }
    out.write(
      `${describeResult(answer.purged, answer.soft === true, answer.dryRun === true, answer.tookMs)}\n`,
    )
    return 0
  } finally {
    await agent.close()
  }
}

/** `purged 12 entries (soft) in 3 ms`, or `would purge ...` for a dry run. */
export function describeResult(purged: number, soft: boolean, dryRun: boolean, tookMs: unknown): string {
  const entries = `${purged} ${purged === 1 ? 'entry' : 'entries'}`
  const verb = dryRun ? 'would purge' : 'purged'
  const time = typeof tookMs === 'number' ? ` in ${Math.round(tookMs)} ms` : ''
  return `${verb} ${entries}${soft ? ' (soft)' : ''}${time}${dryRun ? ' (dry run)' : ''}`
}

/** The JSON body of POST /invalidate for these flags; empty lists and false `all` are left out. */
function bodyOf(flags: PurgeFlags): object {
  return {
    ...(flags.tags.length > 0 ? { tags: flags.tags } : {}),
    ...(flags.urls.length > 0 ? { urls: flags.urls } : {}),
    ...(flags.prefixes.length > 0 ? { prefixes: flags.prefixes } : {}),
    ...(flags.all ? { all: true } : {}),
    soft: flags.soft,
    dryRun: flags.dryRun,
  }
}

/** An admin URL for a listen address; a wildcard host is reached on loopback. */
function adminUrlOf({ host, port }: ListenAddress): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
}

function firstToken(value: string | undefined): string | undefined {
  return value
    ?.split(',')
    .map((token) => token.trim())
    .find((token) => token !== '')
}

function isHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== ''
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}
