/**
 * Answers from the cache written below writeHead (server/prepared-head.ts): byte for byte
 * what writeHead writes for the same answer, on every kind of connection, and handed back
 * to writeHead whenever the prepared fields no longer fit. Then through the public listener:
 * pipelined answers in order, HEAD, a closing connection, and what onFinish reports.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, test } from 'node:test'
import type { Answer, ResponseHeaders } from '../../src/pipeline/answer.ts'
import { writePreparedHead } from '../../src/server/prepared-head.ts'
import { deferred, rawSocket, readUntil, readUntilClose, startProxy } from './harness.ts'

type Stored = NonNullable<Answer['storedFields']>

const STORED: Stored = {
  'content-type': 'text/plain',
  'content-length': '5',
  'cache-control': 'max-age=60',
  date: 'Fri, 04 Dec 2026 10:00:00 GMT',
  etag: '"v1"',
}

/** An answer's fields as the cache makes them: the stored ones, then the hit's own. */
function hitFields(stored: Stored = STORED, extra: ResponseHeaders = {}): ResponseHeaders {
  const headers: ResponseHeaders = {}
  for (const name in stored) {
    const value = stored[name]!
    headers[name] = typeof value === 'string' ? value : [...value]
  }
  return { ...headers, age: '3', 'cache-status': 'edgecache; hit', 'x-request-id': 'r-1', ...extra }
}

interface Case {
  status?: number
  stored?: Stored
  headers?: () => ResponseHeaders
  body?: string
}

/** Servers answering each request with the same case, one by writeHead and one prepared. */
async function startPair(
  pick: (req: IncomingMessage) => Case,
  options: { keepAliveTimeout?: number; maxRequestsPerSocket?: number } = {},
) {
  const prepared: boolean[] = []
  const serve = (usePrepared: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    const c = pick(req)
    const status = c.status ?? 200
    const headers = (c.headers ?? (() => hitFields(c.stored)))()
    if (usePrepared) {
      const done = writePreparedHead(res, status, headers, c.stored ?? STORED)
      prepared.push(done)
      if (!done) res.writeHead(status, headers)
    } else {
      res.writeHead(status, headers)
    }
    res.end(req.method === 'HEAD' || status === 304 ? undefined : (c.body ?? 'hello'))
  }
  const servers: Server[] = [createServer(serve(false)), createServer(serve(true))]
  for (const server of servers) {
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout
    if (options.maxRequestsPerSocket !== undefined) server.maxRequestsPerSocket = options.maxRequestsPerSocket
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
  }
  const [plain, fast] = servers.map((s) => (s.address() as AddressInfo).port) as [number, number]
  return {
    prepared,
    /** What each server sends for `requests` on one connection, until it closes or `until` is seen. */
    async exchange(requests: string, until?: string): Promise<[string, string]> {
      const read = async (port: number) => {
        const socket = await rawSocket(port)
        socket.write(requests)
        const text = until === undefined ? (await readUntilClose(socket)).raw : await readUntil(socket, until)
        socket.destroy()
        return text
      }
      return [await read(plain), await read(fast)]
    },
    close: () => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))),
  }
}

const GET = 'GET /a HTTP/1.1\r\nHost: a\r\n\r\n'
const CLOSE_GET = 'GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'

describe('prepared head: the same bytes as writeHead', () => {
  const pairs: { close(): Promise<unknown> }[] = []
  after(() => Promise.all(pairs.map((p) => p.close())))
  async function pair(...args: Parameters<typeof startPair>) {
    const p = await startPair(...args)
    pairs.push(p)
    return p
  }

  test('keep-alive, then a request asking to close, on one connection', async () => {
    const p = await pair(() => ({}))
    const [plain, fast] = await p.exchange(GET + CLOSE_GET)
    assert.match(fast, /Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n[\s\S]*Connection: close\r\n/)
    assert.equal(fast, plain)
    assert.deepEqual(p.prepared, [true, true])
  })

  test('HTTP/1.0 with and without keep-alive, HEAD, and 304', async () => {
    const p = await pair((req) => (req.url === '/304' ? { status: 304 } : {}))
    for (const request of [
      'GET /a HTTP/1.0\r\n\r\n',
      'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a HTTP/1.0\r\n\r\n',
      `HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n${CLOSE_GET}`,
      `GET /304 HTTP/1.1\r\nHost: a\r\n\r\n${CLOSE_GET}`,
    ]) {
      const [plain, fast] = await p.exchange(request)
      assert.equal(fast, plain, request)
    }
    assert.ok(p.prepared.every(Boolean))
  })

  test('a closing answer (connection: close from the server) and an own field beside the stored ones', async () => {
    const p = await pair(() => ({
      headers: () => hitFields(STORED, { connection: 'close', ratelimit: '"default";r=4;t=1' }),
    }))
    const [plain, fast] = await p.exchange(GET)
    assert.match(fast, /ratelimit: "default";r=4;t=1\r\n/)
    assert.equal(fast, plain)
    assert.deepEqual(p.prepared, [true])
  })

  test('no keep-alive timeout, a request limit per connection, and a client expecting 100-continue', async () => {
    const p = await pair(() => ({}), { keepAliveTimeout: 0, maxRequestsPerSocket: 2 })
    // The second answer reaches the limit and says so; the client is the one to close.
    const [plain, fast] = await p.exchange(GET + GET, 'Connection: close\r\n\r\nhello')
    assert.match(fast, /Connection: keep-alive\r\n\r\n/)
    assert.equal(fast, plain)
    const expect = 'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n'
    // node sends 100 Continue by itself, then the answer.
    const [plainExpect, fastExpect] = await p.exchange(expect, 'hello')
    assert.match(fastExpect, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/)
    assert.equal(fastExpect, plainExpect)
    assert.ok(p.prepared.every(Boolean))
  })

  test('a stored response without Date gets node’s, and list values are written one line each', async () => {
    const { date: _, ...undated } = STORED
    const stored: Stored = { ...undated, 'set-cookie': ['a=1', 'b=2'] }
    const p = await pair(() => ({ stored }))
    const [plain, fast] = await p.exchange(CLOSE_GET)
    assert.match(fast, /set-cookie: a=1\r\nset-cookie: b=2\r\n/)
    assert.match(fast, /Date: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\r\n/)
    // The two Dates are the same second but for a tick at the wrong moment.
    const undate = (text: string) => text.replace(/Date: [^\r]*\r\n/, '')
    assert.equal(undate(fast), undate(plain))
    assert.deepEqual(p.prepared, [true])
  })

  test('handed back to writeHead when a stored field was removed or changed, or a field is not writable', async () => {
    const cases: Case[] = [
      { headers: () => ({ ...hitFields(), etag: '"changed"' }) },
      {
        headers: () => {
          const { etag: _, ...rest } = hitFields()
          return rest
        },
      },
      { headers: () => hitFields(STORED, { 'transfer-encoding': 'chunked' }) },
      // A stored field node frames the connection by.
      { stored: { ...STORED, 'keep-alive': 'timeout=9' } },
      { headers: () => hitFields(STORED, { 'content-length': '' }) },
      {
        status: 206,
        headers: () => hitFields(STORED, { 'content-length': '2', 'content-range': 'bytes 0-1/5' }),
      },
    ]
    let i = 0
    const p = await pair(() => cases[i]!)
    for (; i < cases.length; i++) {
      const [plain, fast] = await p.exchange(CLOSE_GET)
      assert.equal(fast, plain, `case ${i}`)
    }
    assert.deepEqual(p.prepared, [false, false, false, false, false, false])
  })

  test('a status writeHead would refuse is left to writeHead', () => {
    const res = { _header: null } as unknown as ServerResponse
    assert.equal(writePreparedHead(res, 1000, hitFields(), STORED), false)
    assert.equal(writePreparedHead(res, 200.5, hitFields(), STORED), false)
  })
})

describe('prepared head: through the public listener', () => {
  const answer = (target: string, method: string): Answer => {
    const headers = hitFields()
    headers['x-target'] = target
    return {
      status: 200,
      headers,
      storedFields: STORED,
      body: method === 'HEAD' ? undefined : Buffer.from(target.padEnd(5, '.')),
    }
  }

  test('pipelined answers keep their order, HEAD has no body, onFinish counts each', async () => {
    const first = deferred()
    const third = deferred()
    const proxy = await startProxy(async (ctx) => {
      if (ctx.target === '/1') await first.promise
      if (ctx.target === '/3') third.resolve()
      return answer(ctx.target, ctx.method)
    })
    try {
      const socket = await rawSocket(proxy.port)
      socket.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n')
      socket.write('GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
      // The later answers are ready first; node holds them until the first is written.
      await third.promise
      first.resolve()
      const { raw } = await readUntilClose(socket)
      const targets = [...raw.matchAll(/x-target: (\S+)\r\n/g)].map((m) => m[1])
      assert.deepEqual(targets, ['/1', '/2', '/3'])
      assert.match(
        raw,
        /\r\n\r\n\/1\.\.\.HTTP\/1\.1 200 OK\r\n[\s\S]*x-target: \/2\r\n[\s\S]*?\r\n\r\nHTTP\/1\.1 200/,
      )
      assert.match(raw, /\r\n\r\n\/3\.\.\.$/)
      const finished = [await proxy.finish(1), await proxy.finish(2), await proxy.finish(3)]
      assert.deepEqual(finished.map((f) => [f.ctx.target, f.status, f.bytes]).sort(), [
        ['/1', 200, 5],
        ['/2', 200, 0],
        ['/3', 200, 5],
      ])
    } finally {
      await proxy.close()
    }
  })
})
