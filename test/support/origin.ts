/**
 * A real HTTP origin on an ephemeral loopback port that counts the requests it serves.
 * Each test gives it a handler; `requests` records what arrived, so a test can check
 * what edgecache forwarded and how often. With `tls` it speaks HTTPS, and records the
 * server name (SNI) each connection asked for.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'

export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: Buffer
  /** With `tls`: the server name the client sent (SNI); false when it sent none. */
  readonly servername?: string | false
}

export interface OriginOptions {
  /** Serve HTTPS with this certificate and key (PEM text). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer }
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>

export interface Origin {
  readonly url: string
  readonly port: number
  readonly requests: SeenRequest[]
  /** Requests seen for one path (query included). */
  count(url?: string): number
  /** Replaces the handler. */
  handle(handler: OriginHandler): void
  close(): Promise<void>
}

export async function startOrigin(
  handler: OriginHandler = defaultHandler,
  options: OriginOptions = {},
): Promise<Origin> {
  let current = handler
  const requests: SeenRequest[] = []
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const tls = options.tls === undefined ? {} : { servername: (req.socket as TLSSocket).servername ?? false }
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, ...tls })
    try {
      await current(req, res, body)
    } catch {
      res.destroy()
    }
  }
  const server = options.tls === undefined ? createServer(serve) : createHttpsServer(options.tls, serve)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    port,
    requests,
    count: (url) => (url === undefined ? requests.length : requests.filter((r) => r.url === url).length),
    handle(next) {
      current = next
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function defaultHandler(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' })
  res.end('hello')
}
