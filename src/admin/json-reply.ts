/**
 * How the admin listener answers: JSON bodies, never cached, errors as
 * `{ error, code }` from the catalogue. Knows nothing of what the endpoints do.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { EdgecacheError } from '../errors.ts'

/** Sends `body` as JSON with `status`, plus any extra `headers`. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: object,
  headers: OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

/** Sends a catalogued error with its status (500 when it has none) as `{ error, code }`. */
export function sendError(res: ServerResponse, err: EdgecacheError, headers: OutgoingHttpHeaders = {}): void {
  sendJson(res, err.status ?? 500, { error: err.message, code: err.code }, headers)
}
