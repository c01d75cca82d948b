/**
 * A small example backend for `edgecache demo`: cacheable, uncacheable, slow, varied and
 * revalidatable pages, so a newcomer can watch misses, hits and Cache-Status without
 * writing a backend. Not used when serving a real upstream.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

type Page = (req: IncomingMessage, res: ServerResponse) => void

const started = Date.now()
let served = 0

const pages: Record<string, { readonly about: string; readonly page: Page }> = {
  '/cacheable': {
    about: 'fresh for 60 s: a miss, then hits',
    page: (_req, res) => reply(res, 200, { 'cache-control': 'public, max-age=60' }, 'a cacheable page'),
  },
  '/uncacheable': {
    about: 'Cache-Control: no-store: always forwarded',
    page: (_req, res) => reply(res, 200, { 'cache-control': 'no-store' }, 'never stored'),
  },
  '/slow': {
    about: 'takes 1 s; stale-while-revalidate hides the wait once stored',
    page: (_req, res) => {
      setTimeout(
        () => reply(res, 200, { 'cache-control': 'max-age=5, stale-while-revalidate=60' }, 'worth the wait'),
        1_000,
      )
    },
  },
  '/varied': {
    about: 'Vary: Accept-Language: one stored copy per language',
    page: (req, res) =>
      reply(
        res,
        200,
        { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
        `hello in ${req.headers['accept-language'] ?? 'the default language'}`,
      ),
  },
  '/revalidate': {
    about: 'fresh for 10 s, then revalidated with its ETag (the origin answers 304)',
    page: (req, res) => {
      const etag = '"demo-v1"'
      if (req.headers['if-none-match'] === etag)
        return reply(res, 304, { etag, 'cache-control': 'max-age=10' })
      reply(res, 200, { etag, 'cache-control': 'max-age=10' }, 'validated content')
    },
  },
}

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body?: string): void {
  served++
  const text =
    body === undefined
      ? undefined
      : `${body}\n(origin response #${served}, up ${Math.round((Date.now() - started) / 1000)} s)\n`
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers })
  res.end(text)
}

function index(res: ServerResponse): void {
  const lines = Object.entries(pages).map(([path, { about }]) => `${path.padEnd(14)} ${about}`)
  reply(res, 200, { 'cache-control': 'max-age=30' }, `edgecache demo backend\n\n${lines.join('\n')}`)
}

export interface DemoBackend {
  readonly url: string
  readonly paths: readonly string[]
  close(): Promise<void>
}

export async function startDemoBackend(): Promise<DemoBackend> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    const entry = pages[path]
    if (entry !== undefined) return entry.page(req, res)
    if (path === '/') return index(res)
    reply(res, 404, { 'cache-control': 'max-age=10' }, 'not found')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    paths: Object.keys(pages),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
