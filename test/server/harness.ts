/**
 * Starts the public listener on a loopback port with a fake pipeline, and talks to it over
 * real sockets: undici for well-formed requests, raw node:net for the malformed ones.
 */
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { Agent, type Dispatcher, request } from 'undici'
import type { Pipeline } from '../../src/pipeline/compose.ts'
import type { RequestContext } from '../../src/pipeline/context.ts'
import {
  createProxyServer,
  type ProxyServer,
  type ProxyServerOptions,
} from '../../src/server/proxy-server.ts'

export interface Finished {
  readonly ctx: RequestContext
  readonly status: number
  readonly bytes: number
  readonly totalMs: number
}

export interface LogLine {
  readonly obj: Record<string, unknown>
  readonly msg: string
}

export interface Harness {
  readonly proxy: ProxyServer
  readonly port: number
  readonly origin: string
  readonly finished: Finished[]
  readonly errors: LogLine[]
  readonly warnings: LogLine[]
  /** Resolves with the `n`th onFinish call (1-based), now or when it happens. */
  finish(n?: number): Promise<Finished>
  /** A request through undici on a keep-alive agent of this harness's own. */
  request(path: string, options?: RequestOptions): Promise<Dispatcher.ResponseData<unknown>>
  close(): Promise<void>
}

type RequestOptions = NonNullable<Parameters<typeof request>[1]>

export const defaults = {
  maxHeaderBytes: 2048,
  maxHeaderCount: 20,
  maxUriBytes: 256,
  maxBodyBytes: 1024,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
  maxConnections: 0,
  backlog: 511,
} as const

export async function startProxy(
  pipeline: Pipeline,
  overrides: Partial<ProxyServerOptions> = {},
): Promise<Harness> {
  const finished: Finished[] = []
  const waiters: { n: number; resolve: (f: Finished) => void }[] = []
  const errors: LogLine[] = []
  const warnings: LogLine[] = []
  const proxy = createProxyServer({
    ...defaults,
    pipeline,
    log: {
      error: (obj, msg) => errors.push({ obj: obj as Record<string, unknown>, msg }),
      warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }),
    },
    onFinish(ctx, status, bytes, totalMs) {
      finished.push({ ctx, status, bytes, totalMs })
      for (const waiter of waiters.filter((w) => w.n === finished.length)) waiter.resolve(finished.at(-1)!)
    },
    ...overrides,
  })
  const { port } = await proxy.listen('127.0.0.1', 0)
  const origin = `http://127.0.0.1:${port}`
  const agent = new Agent()
  return {
    proxy,
    port,
    origin,
    finished,
    errors,
    warnings,
    finish(n = 1) {
      const done = finished[n - 1]
      if (done !== undefined) return Promise.resolve(done)
      return new Promise((resolve) => waiters.push({ n, resolve }))
    },
    request: (path, options = {}) => request(`${origin}${path}`, { dispatcher: agent, ...options }),
    async close() {
      await agent.destroy()
      await proxy.close(1000)
    },
  }
}

export interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
  /** Everything the server sent, responses and all. */
  readonly raw: string
}

/** Connects a raw socket to the proxy. */
export async function rawSocket(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  return socket
}

/**
 * Writes `data` on a new connection and collects what the server sends until it closes
 * the connection; a reset after the response still counts as a close.
 */
export async function rawRequest(port: number, data: string | Buffer): Promise<RawResponse> {
  const socket = await rawSocket(port)
  socket.write(data)
  return readUntilClose(socket)
}

/** Collects what the server sends on `socket` until it closes, and parses the first response. */
export function readUntilClose(socket: Socket): Promise<RawResponse> {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => {})
  return new Promise((resolve) => {
    socket.on('close', () => resolve(parseResponse(Buffer.concat(chunks).toString('latin1'))))
  })
}

/** Resolves once `socket` has received text containing `marker`; returns all it received. */
export function readUntil(socket: Socket, marker: string): Promise<string> {
  let seen = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1')
      if (seen.includes(marker)) {
        socket.off('data', onData)
        socket.off('close', onClose)
        resolve(seen)
      }
    }
    const onClose = () =>
      reject(new Error(`closed before ${JSON.stringify(marker)}; got ${JSON.stringify(seen)}`))
    socket.on('data', onData)
    socket.on('close', onClose)
  })
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const head = end === -1 ? raw : raw.slice(0, end)
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = headers['content-length']
  const rest = end === -1 ? '' : raw.slice(end + 4)
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: length === undefined ? rest : rest.slice(0, Number(length)),
    raw,
  }
}

/** A promise with its resolve function outside, to hold a pipeline until a test lets go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}
