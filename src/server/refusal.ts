/**
 * Short answers to requests the listener refuses: the text every refusal carries, and the
 * raw bytes written straight to a socket when node could not parse a request at all. Both
 * name the status and the request id and nothing internal, like compose.ts's error answers.
 */
import { STATUS_CODES } from 'node:http'
import { EdgecacheError } from '../errors.ts'

/** The body of a refusal: `431 request header fields too large: … (request id …)`. */
export function refusalText(err: EdgecacheError, id: string): string {
  return `${err.status ?? 400} ${err.message} (request id ${id})`
}

/**
 * The error for a node:http `clientError`: the parse and timeout failures node would
 * otherwise answer itself with an empty 400, 431 or 408.
 */
export function errorOfClientError(err: Error & { code?: string }, maxHeaderBytes: number): EdgecacheError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new EdgecacheError('EC_ERR_REQUEST_HEADERS_TOO_LARGE', [`more than ${maxHeaderBytes} bytes`])
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new EdgecacheError('EC_ERR_REQUEST_TIMEOUT')
    default:
      // The parser's own reason (HPE_INVALID_METHOD, …) would tell the client what parses it.
      return new EdgecacheError('EC_ERR_REQUEST_BAD', ['malformed request'])
  }
}

/** A whole HTTP/1.1 response that closes the connection, for a socket with no ServerResponse. */
export function rawRefusal(err: EdgecacheError, id: string): Buffer {
  const status = err.status ?? 400
  const body = `${refusalText(err, id)}\n`
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'content-type: text/plain; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'cache-control: no-store\r\n' +
      `x-request-id: ${id}\r\n` +
      'connection: close\r\n\r\n' +
      body,
  )
}
