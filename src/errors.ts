/**
 * The catalogue of edgecache's errors. Each code is defined once, with its message
 * template and, where it answers a client, its HTTP status. `docs/errors.md` lists the
 * same codes; test/errors.test.ts fails when the two differ. Code checks `err.code`.
 */

interface ErrorDefinition {
  readonly message: string
  readonly status?: number
}

export const errorCatalogue = {
  EC_ERR_CONFIG_INVALID: { message: 'invalid configuration: %s' },
  EC_ERR_CONFIG_FILE: { message: 'cannot read config file %s: %s' },
  EC_ERR_CLI_USAGE: { message: 'invalid command line: %s' },
  EC_ERR_ROUTES_FILE: { message: 'cannot read route file %s: %s' },
  EC_ERR_ROUTES_INVALID: { message: 'invalid routes: %s' },
  EC_ERR_REQUEST_BAD: { message: 'bad request: %s', status: 400 },
  EC_ERR_REQUEST_URI_TOO_LONG: { message: 'request target longer than %s bytes', status: 414 },
  EC_ERR_REQUEST_HEADERS_TOO_LARGE: { message: 'request header fields too large: %s', status: 431 },
  EC_ERR_REQUEST_BODY_TOO_LARGE: { message: 'request body larger than %s bytes', status: 413 },
  EC_ERR_REQUEST_TIMEOUT: { message: 'request not received in time', status: 408 },
  EC_ERR_REQUEST_VERSION: { message: 'HTTP version %s is not supported', status: 505 },
  EC_ERR_REQUEST_TRANSFER_CODING: { message: 'transfer coding "%s" is not supported', status: 501 },
  EC_ERR_REQUEST_CLIENT_CERT: { message: 'this route needs a verified client certificate', status: 403 },
  EC_ERR_UPSTREAM_CONNECT: { message: 'backend unreachable', status: 502 },
  EC_ERR_UPSTREAM_RESET: { message: 'backend closed the connection', status: 502 },
  EC_ERR_UPSTREAM_BAD_RESPONSE: { message: 'backend sent an invalid response', status: 502 },
  EC_ERR_UPSTREAM_TIMEOUT: { message: 'backend did not answer in time', status: 504 },
  EC_ERR_UPSTREAM_UNAVAILABLE: { message: 'no backend available', status: 503 },
  EC_ERR_UPSTREAM_BUSY: { message: 'backend busy', status: 503 },
  EC_ERR_UPSTREAM_FAILED_COLLAPSED: {
    message: 'backend failed the request this one waited for',
    status: 502,
  },
  EC_ERR_UPGRADE_UNAVAILABLE: { message: 'no tunnel available: %s', status: 503 },
  EC_ERR_CACHE_ONLY_IF_CACHED: { message: 'not in cache and the request said only-if-cached', status: 504 },
  EC_ERR_STORAGE_UNAVAILABLE: { message: 'storage unavailable: %s', status: 503 },
  EC_ERR_STORAGE_DIRECTORY_IN_USE: {
    message:
      'cache directory %s is in use by edgecache process %s; stop it, or give this one another --cache-dir',
  },
  EC_ERR_LISTEN: { message: 'cannot listen on %s %s: %s' },
  EC_ERR_ADMIN_NOT_FOUND: { message: 'no admin endpoint at %s', status: 404 },
  EC_ERR_ADMIN_METHOD_NOT_ALLOWED: { message: '%s is not allowed on %s; use %s', status: 405 },
  EC_ERR_ADMIN_NO_TOKENS: {
    message:
      'purges and reloads are disabled until an admin token is configured: set admin.tokens in the config file or EDGECACHE_ADMIN_TOKEN',
    status: 403,
  },
  EC_ERR_ADMIN_TOKEN_MISSING: {
    message: 'missing bearer token: send Authorization: Bearer <token>',
    status: 401,
  },
  EC_ERR_ADMIN_TOKEN_INVALID: { message: 'invalid bearer token', status: 401 },
  EC_ERR_ADMIN_MEDIA_TYPE: { message: 'expected Content-Type: application/json, got %s', status: 415 },
  EC_ERR_ADMIN_BAD_REQUEST: { message: 'invalid request: %s', status: 400 },
  EC_ERR_CLI_ADMIN_UNREACHABLE: { message: 'cannot reach the admin listener at %s: %s' },
  EC_ERR_ADMIN_METRICS_UNAVAILABLE: {
    message: 'metrics unavailable: the workers did not all answer',
    status: 503,
  },
  EC_ERR_ADMIN_STATUS_UNAVAILABLE: {
    message: 'status unavailable: the workers did not all answer',
    status: 503,
  },
  EC_ERR_INTERNAL: { message: 'internal error', status: 500 },
} as const satisfies Record<string, ErrorDefinition>

export type ErrorCode = keyof typeof errorCatalogue

/** An error edgecache raises on purpose: a catalogued code, an optional HTTP status and a cause. */
export class EdgecacheError extends Error {
  readonly code: ErrorCode
  readonly status: number | undefined

  constructor(code: ErrorCode, args: readonly (string | number)[] = [], options?: { cause?: unknown }) {
    const definition: ErrorDefinition = errorCatalogue[code]
    let i = 0
    super(
      definition.message.replace(/%s/g, () => String(args[i++] ?? '')),
      options,
    )
    this.name = 'EdgecacheError'
    this.code = code
    this.status = definition.status
  }
}

/**
 * An EdgecacheError that carries every problem found rather than only the first, as
 * config validation does. The message joins them with `; `; `problems` keeps them apart.
 */
export class ProblemsError extends EdgecacheError {
  readonly problems: readonly string[]

  constructor(code: ErrorCode, problems: readonly string[], options?: { cause?: unknown }) {
    super(code, [problems.join('; ')], options)
    this.problems = Object.freeze([...problems])
  }
}

/** True when `err` is an EdgecacheError with `code`; checks the code, not the class. */
export function hasCode(err: unknown, code: ErrorCode): err is EdgecacheError {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
