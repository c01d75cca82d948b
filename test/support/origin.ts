/**
 * A real HTTP origin on an ephemeral loopback port that counts the requests it serves.
 * Each test gives it a handler; `requests` records what arrived, so a test can check
 * what edgecache forwarded and how often.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: Buffer
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

export async function startOrigin(handler: OriginHandler = defaultHandler): Promise<Origin> {
  let current = handler
  const requests: SeenRequest[] = []
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
    try {
      await current(req, res, body)
    } catch {
      res.destroy()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
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
