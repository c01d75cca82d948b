/**
 * Writes an Answer to a socket node:http has handed over with no ServerResponse (an
 * Upgrade request's): the status line, the fields, then the body, and the connection
 * closes after it, so no length or chunked framing is needed (RFC 9112 §6.3, item 8).
 * Header fields that node would refuse to write are dropped rather than sent.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Answer, ResponseHeaders } from '../pipeline/answer.ts'

/** Fields of one connection, which the answer's own framing and `connection: close` replace. */
const framing = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'])

/**
 * The status line and header section of `status` with `headers`, and `connection` last.
 *
 * @example
 * rawHead(101, { upgrade: 'websocket', 'sec-websocket-accept': '…' }, 'upgrade')
 */
export function rawHead(status: number, headers: ResponseHeaders, connection: string): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`
  for (const name in headers) {
    if (framing.has(name) && !(status === 101 && name === 'upgrade')) continue
    const value = headers[name]!
    for (const one of typeof value === 'string' ? [value] : value) {
      if (isWritable(name, one)) head += `${name}: ${one}\r\n`
    }
  }
  return `${head}connection: ${connection}\r\n\r\n`
}

/**
 * Writes `answer` and closes the connection after it; `onDone` gets the body bytes handed
 * to the socket, once, when the socket has closed. A HEAD request, or a status that has
 * no content, gets none.
 */
export function writeRawAnswer(
  socket: Duplex,
  answer: Answer,
  method: string,
  onDone: (bytes: number) => void,
): void {
  let bytes = 0
  socket.once('close', () => onDone(bytes))
  socket.write(rawHead(answer.status, answer.headers, 'close'))
  const body = answer.body
  const hasContent =
    method !== 'HEAD' && answer.status >= 200 && answer.status !== 204 && answer.status !== 304
  if (body === undefined || !hasContent) {
    if (body !== undefined && !Buffer.isBuffer(body)) body.destroy()
    socket.end(() => socket.destroy())
    return
  }
  if (Buffer.isBuffer(body)) {
    bytes = body.length
    socket.end(body, () => socket.destroy())
    return
  }
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length
  })
  // A body that fails is cut off with the connection: the client sees no clean end.
  body.once('error', () => socket.destroy())
  socket.once('close', () => {
    if (!body.readableEnded) body.destroy()
  })
  // pipe ends the socket after the body; once that is flushed the connection goes.
  socket.once('finish', () => socket.destroy())
  body.pipe(socket)
}

function isWritable(name: string, value: string): boolean {
  try {
    validateHeaderName(name)
    validateHeaderValue(name, value)
    return true
  } catch {
    return false
  }
}
