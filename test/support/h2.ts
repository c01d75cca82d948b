/**
 * A node:http2 client for tests: one session (connection) to the TLS or h2c listener, and
 * requests on it that resolve with status, headers and body.
 */
import {
  type ClientHttp2Session,
  connect,
  type IncomingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2'

export interface H2Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  header(name: string): string | undefined
}

/** Opens a session; `authority` is `https://localhost:<port>` or `http://127.0.0.1:<port>` for h2c. */
export async function openSession(
  authority: string,
  options: SecureClientSessionOptions = {},
): Promise<ClientHttp2Session> {
  const session = connect(authority, options)
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve())
    session.once('error', reject)
  })
  return session
}

/** Sends one request on `session` and reads the whole answer. */
export function request(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers })
    stream.end()
    let response: IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => {
      response = h
    })
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () =>
      resolve({
        status: Number(response[':status']),
        headers: response,
        text: Buffer.concat(chunks).toString(),
        header(name) {
          const v = response[name]
          return Array.isArray(v) ? v.join(', ') : v
        },
      }),
    )
    stream.on('error', reject)
  })
}
