/**
 * `POST /invalidate` on the admin listener: checks the bearer token, reads and validates a
 * JSON body naming what to purge (tags, URLs, URL prefixes or everything; hard or soft; for
 * real or as a dry run) and hands it to the Invalidator. It never purges anything itself
 * and never logs the token.
 *
 * Order of checks: token configured (403), token given and right (401), content type (415),
 * body size (413), body (400). The token comes first so that nobody without it learns
 * anything about the body rules or gets a body read at all.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import { EdgecacheError, hasCode } from '../errors.ts'
import type { Logger } from '../observability/logger.ts'
import {
  cliUserAgent,
  type InvalidationRequest,
  type InvalidationSource,
  type Invalidator,
} from '../surrogate/invalidator.ts'
import { authorized, createBearerAuth, type TokenSource } from './bearer-auth.ts'
import { sendError, sendJson } from './json-reply.ts'

/** The log calls the admin endpoints make; a pino Logger (or a child) fits. */
export type AdminLog = Pick<Logger, 'info' | 'warn' | 'error'>

export interface InvalidateHandlerDeps {
  readonly invalidator: Invalidator
  /** Bearer tokens accepted; none means every request is refused with 403. Secrets. */
  readonly tokens: TokenSource
  readonly log: AdminLog
  /** Largest request body read; larger ones get 413. @default 1 MiB */
  readonly maxBodyBytes?: number
}

/** Handles one request to `/invalidate`; the admin server has already checked the method. */
export type InvalidateHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>

const defaultMaxBodyBytes = 1024 * 1024

/** Most entries of each list written to the purge log line; the counts are always complete. */
const loggedEntries = 20

const fieldNames = ['tags', 'urls', 'prefixes', 'all', 'soft', 'dryRun'] as const

/**
 * @example
 * const handle = createInvalidateHandler({ invalidator, tokens: config.admin.tokens, log })
 * // in the admin route table: ['/invalidate', { POST: handle }]
 */
export function createInvalidateHandler(deps: InvalidateHandlerDeps): InvalidateHandler {
  const maxBodyBytes = deps.maxBodyBytes ?? defaultMaxBodyBytes
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new Error(`invalidate handler: maxBodyBytes must be a positive integer, got ${maxBodyBytes}`)
  }
  const auth = createBearerAuth(deps.tokens)
  const { invalidator, log } = deps

  return async (req, res) => {
    if (!authorized(auth, req, res, log, 'invalidation')) return
    const mediaType = req.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase()
    // No Content-Type is read as JSON; any other type is refused, so a form post fails loudly.
    if (mediaType !== undefined && mediaType !== 'application/json' && !mediaType.endsWith('+json')) {
      return sendError(res, new EdgecacheError('EC_ERR_ADMIN_MEDIA_TYPE', [JSON.stringify(mediaType)]))
    }

    const body = await readBody(req, maxBodyBytes)
    if (body === 'aborted') return
    if (body === 'too-large') {
      // The rest of the body is not read: close the connection rather than drain it.
      return sendError(res, new EdgecacheError('EC_ERR_REQUEST_BODY_TOO_LARGE', [maxBodyBytes]), {
        connection: 'close',
      })
    }
    const parsed = parseInvalidation(body)
    if ('problem' in parsed) {
      return sendError(res, new EdgecacheError('EC_ERR_ADMIN_BAD_REQUEST', [parsed.problem]))
    }

    const request: InvalidationRequest = { ...parsed.request, source: sourceOf(req) }
    try {
      const result = await invalidator.invalidate(request)
      log.info(
        { invalidation: describeForLog(request), purged: result.purged, tookMs: result.tookMs },
        request.dryRun ? 'invalidation dry run' : 'invalidated',
      )
      sendJson(res, 200, {
        purged: result.purged,
        soft: result.soft,
        dryRun: result.dryRun,
        tookMs: result.tookMs,
      })
    } catch (err) {
      if (hasCode(err, 'EC_ERR_STORAGE_UNAVAILABLE')) {
        log.warn({ err, invalidation: describeForLog(request) }, 'invalidation not done: storage unavailable')
        return sendJson(res, 503, {
          error: `purge not done, nothing was invalidated: ${err.message}`,
          code: err.code,
        })
      }
      log.error({ err, invalidation: describeForLog(request) }, 'invalidation failed')
      sendError(res, new EdgecacheError('EC_ERR_INTERNAL'))
    }
  }
}

/**
 * Reads the whole body, up to `maxBytes`. A declared Content-Length over the limit is
 * refused before a byte is read. 'aborted' when the client went away mid-body.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large' | 'aborted'> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve('too-large')
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let bytes = 0
    const finish = (outcome: Buffer | 'too-large' | 'aborted') => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onAbort)
      req.off('aborted', onAbort)
      resolve(outcome)
    }
    const onData = (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes > maxBytes) finish('too-large')
      else chunks.push(chunk)
    }
    const onEnd = () => finish(Buffer.concat(chunks))
    const onAbort = () => finish('aborted')
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onAbort)
    req.on('aborted', onAbort)
  })
}

/** Every string field of the body: an empty string never selects anything, so it is refused. */
const nonEmptyString = z.string().min(1, { error: 'must not be empty' })

const absoluteUrl = nonEmptyString.superRefine((value, ctx) => {
  // An empty string already has its own problem ("must not be empty").
  if (value !== '' && !isAbsoluteHttpUrl(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `expected an absolute http:// or https:// URL, got ${show(value)}`,
    })
  }
})

const bodySchema = z.strictObject({
  tags: z.array(nonEmptyString).optional(),
  urls: z.array(absoluteUrl).optional(),
  prefixes: z.array(absoluteUrl).optional(),
  all: z.boolean().optional(),
  soft: z.boolean().default(false),
  dryRun: z.boolean().default(false),
})

/**
 * Validates a request body. Every problem is named by its field (`urls[1]`), joined
 * with `; `. Exported for tests; the handler is the only caller.
 */
export function parseInvalidation(
  body: Buffer | string,
): { request: Omit<InvalidationRequest, 'source'> } | { problem: string } {
  const textBody = typeof body === 'string' ? body : body.toString('utf8')
  if (textBody.trim() === '') {
    return { problem: 'body: empty; expected a JSON object such as {"tags":["product:42"]}' }
  }
  let json: unknown
  try {
    json = JSON.parse(textBody)
  } catch (err) {
    return { problem: `body: not valid JSON (${(err as Error).message})` }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { problem: `body: expected a JSON object, got ${show(json)}` }
  }
  const result = bodySchema.safeParse(json, { reportInput: true })
  if (!result.success) return { problem: result.error.issues.flatMap(describeIssue).join('; ') }

  const { tags = [], urls = [], prefixes = [], all, soft, dryRun } = result.data
  const selects = tags.length + urls.length + prefixes.length > 0
  if (all === true && selects) {
    return { problem: 'all: true purges everything; send it without tags, urls or prefixes' }
  }
  if (all !== true && !selects) {
    const given = all === false ? 'all: false selects nothing' : 'nothing to purge'
    return { problem: `${given}; give tags, urls or prefixes, or "all": true` }
  }
  const request: Omit<InvalidationRequest, 'source'> = {
    ...(tags.length > 0 ? { tags: [...new Set(tags)] } : {}),
    ...(urls.length > 0 ? { urls: [...new Set(urls)] } : {}),
    ...(prefixes.length > 0 ? { prefixes: [...new Set(prefixes)] } : {}),
    ...(all === true ? { all: true } : {}),
    soft,
    dryRun,
  }
  return { request }
}

/** `edgecache purge` names itself in its User-Agent; any other caller is the admin API's. */
function sourceOf(req: IncomingMessage): InvalidationSource {
  const agent = req.headers['user-agent'] ?? ''
  return agent === cliUserAgent || agent.startsWith(`${cliUserAgent}/`) ? 'cli' : 'admin'
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const where = formatPath(issue.path)
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map(
        (key) => `${formatPath([...issue.path, key])}: unknown field; expected ${fieldNames.join(', ')}`,
      )
    case 'invalid_type': {
      const expected =
        issue.expected === 'array'
          ? 'a list of strings'
          : issue.expected === 'boolean'
            ? 'true or false'
            : `a ${issue.expected}`
      return [`${where}: expected ${expected}, got ${show(issue.input)}`]
    }
    default:
      return [`${where}: ${issue.message}`]
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path)
    out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`
  return out === '' ? 'body' : out
}

function isAbsoluteHttpUrl(value: string): boolean {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== ''
}

/** An offending value for a message: JSON, cut short so a huge value cannot flood the answer. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  const json = JSON.stringify(value) ?? String(value)
  return json.length > 80 ? `${json.slice(0, 77)}...` : json
}

/** What was purged, for the log line: lists cut to their first entries, with full counts. */
function describeForLog(request: InvalidationRequest): Record<string, unknown> {
  const out: Record<string, unknown> = { soft: request.soft, dryRun: request.dryRun }
  for (const name of ['tags', 'urls', 'prefixes'] as const) {
    const list = request[name]
    if (list === undefined) continue
    out[name] = list.slice(0, loggedEntries)
    if (list.length > loggedEntries) out[`${name}Count`] = list.length
  }
  if (request.all === true) out.all = true
  return out
}
