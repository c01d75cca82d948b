/**
 * HTTP/1.1 below node:http (server/direct-http1.ts): which request heads it reads itself,
 * that a stored answer goes out without node:http and byte for byte as node writes it,
 * and that everything else (another answer, a body, pipelining, an interim response) is
 * handed to node with the request started once. Then the connection's life: keep-alive,
 * the 408 of a silent connection, a client that leaves, shutdown.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough, Readable } from 'node:stream'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { type Answer, type ResponseHeaders, textAnswer } from '../../src/pipeline/answer.ts'
import type { RequestContext } from '../../src/pipeline/context.ts'
import { loadCertificates } from '../../src/server/certificates.ts'
import { type DirectLimits, parseDirectHead } from '../../src/server/direct-http1.ts'
import { type CertificateFiles, makeCertificates, opensslSkipReason } from '../support/certificates.ts'
import { waitFor } from '../support/client.ts'
import { deferred, rawSocket, readUntil, readUntilClose, startProxy } from './harness.ts'

const LIMITS: DirectLimits = {
  maxHeaderBytes: 2048,
  maxHeaderCount: 5,
  maxUriBytes: 64,
  headersTimeoutMs: 5000,
  keepAliveTimeoutMs: 5000,
}

const head = (text: string) => parseDirectHead(Buffer.from(text, 'latin1'), LIMITS)

describe('direct HTTP/1.1: the request heads it reads', () => {
  test('reads a GET or HEAD with lowercased names, values without surrounding blanks, and its end', () => {
    const text = 'GET /a?b=1 HTTP/1.1\r\nHost: Example.com:8080\r\nX-Thing:  v a l \t\r\nAccept:*/*\r\n\r\n'
    assert.deepEqual(head(text), {
      method: 'GET',
      target: '/a?b=1',
      headers: { host: 'Example.com:8080', 'x-thing': 'v a l', accept: '*/*' },
      keepAlive: true,
      end: text.length,
    })
    assert.equal(head('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n')?.method, 'HEAD')
    assert.equal(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n')?.keepAlive, false)
    assert.equal(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n')?.keepAlive, true)
  })

  const nodes: [string, string][] = [
    ['an incomplete head', 'GET / HTTP/1.1\r\nHost: a\r\n'],
    ['another method', 'POST / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['a body', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n'],
    ['a chunked body', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['Expect', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n'],
    ['an upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['a repeated field', 'GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\naccept: y\r\n\r\n'],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\nAccept: x\r\n\r\n'],
    ['an invalid Host', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['a folded line', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n'],
    ['a byte above ASCII', 'GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n'],
    ['a bare LF', 'GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n'],
    ['a target not starting with /', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a target over maxUriBytes', `GET /${'a'.repeat(64)} HTTP/1.1\r\nHost: a\r\n\r\n`],
    [
      'more fields than maxHeaderCount',
      `GET / HTTP/1.1\r\nHost: a\r\n${'X-A: 1\r\nX-B: 1\r\nX-C: 1\r\nX-D: 1\r\nX-E: 1\r\n'}\r\n`,
    ],
    ['a head over maxHeaderBytes', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(2048)}\r\n\r\n`],
    ['a field name that is not a token', 'GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n'],
  ]
  for (const [what, text] of nodes) {
    test(`leaves ${what} to node`, () => {
      assert.equal(head(text), undefined)
    })
  }
})

describe('direct HTTP/1.1: what it reads, node reads the same way', () => {
  /** A fixed-seed generator, so that every run tries the same heads. */
  function random(seed: number): () => number {
    let state = seed
    return () => {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
      return state / 2_147_483_648
    }
  }
  const bases = [
    'GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Thing: v a l\r\n\r\n',
    'HEAD /x HTTP/1.1\r\nhost: h:8080\r\nConnection: close\r\nUser-Agent: t/1\r\n\r\n',
  ]
  const alphabet = [
    '\r',
    '\n',
    ' ',
    '\t',
    ':',
    '\0',
    '\x7f',
    '\x80',
    '\xff',
    'A',
    'a',
    '/',
    '%',
    '"',
    ',',
    '\r\n',
    '\r\n ',
  ]

  test('every mutated head it reads, node:http reads with the same method, target and fields', async () => {
    const next = random(20261204)
    const accepted: string[] = []
    for (let i = 0; accepted.length < 150 && i < 20_000; i++) {
      const base = bases[i % bases.length]!
      const at = Math.floor(next() * (base.length - 4))
      const piece = alphabet[Math.floor(next() * alphabet.length)]!
      const cut = next() < 0.5 ? 0 : 1
      const text = base.slice(0, at) + piece + base.slice(at + cut)
      if (text !== base && head(text) !== undefined) accepted.push(text)
    }
    assert.ok(accepted.length >= 50, `only ${accepted.length} mutated heads were read`)
    const seen: { method?: string; url?: string; headers: Record<string, string | string[] | undefined> }[] =
      []
    const server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers })
      res.end()
    })
    server.on('clientError', (_err, socket) => {
      seen.push({ headers: {} })
      socket.destroy()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    try {
      for (const text of accepted) {
        const socket = await rawSocket(port)
        const count = seen.length
        socket.end(Buffer.from(text, 'latin1'))
        await waitFor(() => seen.length > count)
        socket.destroy()
        const parsed = head(text)!
        const byNode = seen[count]!
        assert.deepEqual(
          { method: byNode.method, url: byNode.url, headers: { ...byNode.headers } },
          { method: parsed.method, url: parsed.target, headers: parsed.headers },
          JSON.stringify(text),
        )
      }
    } finally {
      server.close()
    }
  })
})

const STORED = {
  'content-type': 'text/plain',
  'content-length': '5',
  'cache-control': 'max-age=60',
  etag: '"v1"',
}

/** An answer as the cache makes one from a stored response. */
function hit(target: string, status = 200): Answer {
  const headers: ResponseHeaders = {
    ...STORED,
    age: '3',
    'cache-status': 'edgecache; hit',
    'x-target': target,
  }
  return { status, headers, storedFields: STORED, body: Buffer.from(target.padEnd(5, '.')) }
}

/** An answer without Content-Length, which node:http writes (chunked). */
function unframed(status: number, text: string): Answer {
  return { status, headers: { 'content-type': 'text/plain' }, body: Buffer.from(`${text}\n`) }
}

/** An answer whose body streams, with its length. */
function streamed(chunks: readonly Buffer[], body = Readable.from(chunks)): Answer {
  const length = chunks.reduce((n, c) => n + c.length, 0)
  return { status: 200, headers: { 'content-length': String(length) }, body }
}

const GET = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: a\r\nX-Request-Id: req-${path.slice(1)}\r\n${extra}\r\n`

/** Everything but the Date line, which may differ by a second. */
const undated = (text: string) => text.replace(/Date: [^\r]*\r\n/, '')

describe('direct HTTP/1.1: through the public listener', () => {
  test('writes stored answers on a kept-alive connection without node:http, as node writes them', async () => {
    const proxy = await startProxy(async (ctx) =>
      ctx.target === '/plain' ? unframed(200, 'plain') : hit(ctx.target),
    )
    let nodeRequests = 0
    proxy.proxy.server.on('request', () => nodeRequests++)
    try {
      const socket = await rawSocket(proxy.port)
      socket.write(GET('/a'))
      const first = await readUntil(socket, '/a...')
      socket.write(GET('/b'))
      const second = await readUntil(socket, '/b...')
      assert.equal(nodeRequests, 0)
      assert.equal(
        undated(first),
        'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ncache-control: max-age=60\r\n' +
          'etag: "v1"\r\nage: 3\r\ncache-status: edgecache; hit\r\nx-target: /a\r\nx-request-id: req-a\r\n' +
          'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n/a...',
      )
      assert.match(first, /\r\nDate: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\r\n/)
      assert.equal(undated(second), undated(first).replaceAll('/a', '/b').replaceAll('req-a', 'req-b'))
      // An answer node must chunk takes the connection to node, which writes the next
      // stored answer with its prepared head: the same bytes.
      socket.write(GET('/plain'))
      await readUntil(socket, 'plain\n\r\n0\r\n\r\n')
      socket.write(GET('/c'))
      const third = await readUntil(socket, '/c...')
      assert.equal(nodeRequests, 2)
      assert.equal(undated(third), undated(first).replaceAll('/a', '/c').replaceAll('req-a', 'req-c'))
      socket.destroy()
      const finished = [
        await proxy.finish(1),
        await proxy.finish(2),
        await proxy.finish(3),
        await proxy.finish(4),
      ]
      assert.deepEqual(
        finished.map((f) => [f.ctx.target, f.status, f.bytes]),
        [
          ['/a', 200, 5],
          ['/b', 200, 5],
          ['/plain', 200, 6],
          ['/c', 200, 5],
        ],
      )
    } finally {
      await proxy.close()
    }
  })

  test('an answer from outside the store with its body in memory is written here, as writeHead writes it', async () => {
    const proxy = await startProxy(async (ctx) => {
      if (ctx.target === '/unframed') return { status: 200, headers: {}, body: Buffer.from('no length') }
      return textAnswer(203, 'mine', { 'x-list': ['a', 'b'] })
    })
    let nodeRequests = 0
    proxy.proxy.server.on('request', () => nodeRequests++)
    try {
      const socket = await rawSocket(proxy.port)
      socket.write(GET('/t'))
      const direct = await readUntil(socket, 'mine\n')
      assert.equal(nodeRequests, 0)
      // No length: node chunks it, so node writes it, and then the same answer as above.
      socket.write(GET('/unframed'))
      const unframed = await readUntil(socket, '0\r\n\r\n')
      assert.match(unframed, /Transfer-Encoding: chunked\r\n/)
      assert.equal(nodeRequests, 1)
      socket.write(GET('/t'))
      const byNode = await readUntil(socket, 'mine\n')
      assert.equal(nodeRequests, 2)
      assert.equal(undated(byNode), undated(direct))
      assert.match(direct, /^HTTP\/1\.1 203 Non-Authoritative Information\r\nx-list: a\r\nx-list: b\r\n/)
      socket.destroy()
    } finally {
      await proxy.close()
    }
  })

  test('a streamed body with its length is written here; a request sent meanwhile waits for its end', async () => {
    const body = new PassThrough()
    const proxy = await startProxy(async (ctx) =>
      ctx.target === '/s' ? streamed([Buffer.from('12345'), Buffer.from('67890')], body) : hit(ctx.target),
    )
    let nodeRequests = 0
    proxy.proxy.server.on('request', () => nodeRequests++)
    try {
      const socket = await rawSocket(proxy.port)
      let text = ''
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1')
      })
      socket.write(GET('/s'))
      body.write('12345')
      await waitFor(() => text.endsWith('12345'))
      socket.write(GET('/n'))
      // The next request is held until the body ends, then answered in order.
      await new Promise((resolve) => setImmediate(resolve))
      assert.ok(!text.includes('/n...'))
      body.end('67890')
      await waitFor(() => text.includes('/n...'))
      assert.match(
        text,
        /content-length: 10\r\n[\s\S]*\r\n\r\n1234567890HTTP\/1\.1 200 OK\r\n[\s\S]*\/n\.\.\./,
      )
      assert.equal(nodeRequests, 0)
      const finished = [await proxy.finish(1), await proxy.finish(2)]
      assert.deepEqual(
        finished.map((f) => [f.ctx.target, f.bytes]),
        [
          ['/s', 10],
          ['/n', 5],
        ],
      )
      socket.destroy()
    } finally {
      await proxy.close()
    }
  })

  test('a streamed body that fails cuts the connection; a client that leaves destroys the body', async () => {
    const failing = new PassThrough()
    const abandoned = new PassThrough()
    const proxy = await startProxy(async (ctx) =>
      streamed([Buffer.alloc(10)], ctx.target === '/fail' ? failing : abandoned),
    )
    try {
      const socket = await rawSocket(proxy.port)
      socket.write(GET('/fail'))
      failing.write('12345')
      await readUntil(socket, '12345')
      const closed = readUntilClose(socket)
      failing.destroy(new Error('origin went away'))
      // Closed with 5 of the 10 bytes sent: nothing more came.
      assert.equal((await closed).raw, '')
      const failed = await proxy.finish(1)
      assert.deepEqual([failed.status, failed.bytes], [200, 5])
      assert.ok(proxy.warnings.some((w) => w.msg === 'answer body failed, response cut short'))

      const leaving = await rawSocket(proxy.port)
      leaving.write(GET('/leave'))
      abandoned.write('12')
      await readUntil(leaving, '12')
      const bodyClosed = once(abandoned, 'close')
      leaving.destroy()
      await bodyClosed
      assert.deepEqual([(await proxy.finish(2)).bytes], [2])
    } finally {
      await proxy.close()
    }
  })

  test('HEAD and 304 have no body; connection: close closes after the answer', async () => {
    const proxy = await startProxy(async (ctx) => hit(ctx.target, ctx.target === '/304' ? 304 : 200))
    try {
      const socket = await rawSocket(proxy.port)
      socket.write('HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n')
      const headAnswer = await readUntil(socket, '\r\n\r\n')
      assert.match(headAnswer, /content-length: 5\r\n/)
      assert.ok(headAnswer.endsWith('\r\n\r\n'))
      socket.write(GET('/304', 'Connection: close\r\n'))
      const rest = await readUntilClose(socket)
      assert.equal(rest.status, 304)
      assert.match(rest.raw, /Connection: close\r\n\r\n$/)
      const finished = [await proxy.finish(1), await proxy.finish(2)]
      assert.deepEqual(
        finished.map((f) => [f.status, f.bytes]),
        [
          [200, 0],
          [304, 0],
        ],
      )
    } finally {
      await proxy.close()
    }
  })

  test('a request node reads (a body) and every later one on the connection go to node', async () => {
    let runs = 0
    const proxy = await startProxy(async (ctx) => {
      runs++
      return hit(ctx.target)
    })
    let nodeRequests = 0
    proxy.proxy.server.on('request', () => nodeRequests++)
    try {
      const socket = await rawSocket(proxy.port)
      socket.write('POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi')
      await readUntil(socket, '/p...')
      socket.write(GET('/g'))
      await readUntil(socket, '/g...')
      assert.equal(nodeRequests, 2)
      assert.equal(runs, 2)
      socket.destroy()
    } finally {
      await proxy.close()
    }
  })

  test('an answer node must frame is handed to node with the request, which the pipeline ran once', async () => {
    let runs = 0
    const contexts: RequestContext[] = []
    const proxy = await startProxy(async (ctx) => {
      runs++
      contexts.push(ctx)
      return unframed(203, 'from node')
    })
    let nodeRequests = 0
    proxy.proxy.server.on('request', () => nodeRequests++)
    try {
      const socket = await rawSocket(proxy.port)
      socket.write(GET('/x'))
      const text = await readUntil(socket, 'from node')
      assert.match(text, /^HTTP\/1\.1 203 Non-Authoritative Information\r\n/)
      assert.match(text, /x-request-id: req-x\r\n/)
      assert.equal(runs, 1)
      assert.equal(nodeRequests, 1)
      socket.destroy()
      const done = await proxy.finish()
      assert.equal(done.ctx, contexts[0])
      assert.equal(done.status, 203)
    } finally {
      await proxy.close()
    }
  })

  test('a pipeline that fails is answered 500 by node, once', async () => {
    const proxy = await startProxy(async () => {
      throw new Error('boom')
    })
    try {
      const res = await (async () => {
        const socket = await rawSocket(proxy.port)
        socket.write(GET('/f', 'Connection: close\r\n'))
        return readUntilClose(socket)
      })()
      assert.equal(res.status, 500)
      assert.equal(proxy.errors.filter((e) => e.msg === 'pipeline rejected').length, 1)
      assert.equal((await proxy.finish()).status, 500)
    } finally {
      await proxy.close()
    }
  })

  test('an interim response takes the request to node, which sends it before the answer', async () => {
    const tick = () => new Promise((resolve) => setImmediate(resolve))
    let runs = 0
    const proxy = await startProxy(async (ctx) => {
      runs++
      // Before the pipeline has returned its promise (/i), or after it (/aft), as an origin's 103 comes.
      if (ctx.target === '/aft') await tick()
      ctx.interim?.(103, { link: '</style.css>; rel=preload' })
      await tick()
      return hit(ctx.target)
    })
    try {
      for (const path of ['/i', '/aft']) {
        const socket = await rawSocket(proxy.port)
        socket.write(GET(path))
        const text = await readUntil(socket, `${path}.`)
        assert.match(
          text,
          /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/,
        )
        socket.destroy()
      }
      assert.equal(runs, 2)
    } finally {
      await proxy.close()
    }
  })

  test('a client that leaves before its answer aborts the signal and is counted as 499', async () => {
    const arrived = deferred()
    const proxy = await startProxy(async (ctx) => {
      arrived.resolve()
      await once(ctx.signal, 'abort')
      return hit(ctx.target)
    })
    try {
      const socket = await rawSocket(proxy.port)
      socket.write(GET('/gone'))
      await arrived.promise
      // A half-close is a client gone too, as node has it.
      socket.end()
      const done = await proxy.finish()
      assert.equal(done.status, 499)
      assert.equal(done.ctx.signal.aborted, true)
    } finally {
      await proxy.close()
    }
  })

  test('a client slow to read a large answer is not cut off by the keep-alive wait, which starts after', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'b')
    const stored = { 'content-length': String(big.length) }
    const proxy = await startProxy(
      async (ctx) =>
        ctx.target === '/big'
          ? { status: 200, headers: { ...stored }, storedFields: stored, body: big }
          : hit(ctx.target),
      { keepAliveTimeoutMs: 100 },
    )
    try {
      const socket = await rawSocket(proxy.port)
      // A first answer: the connection now waits 100 ms (closing 1 s after) between requests.
      socket.write(GET('/a'))
      await readUntil(socket, '/a...')
      socket.pause()
      socket.write(GET('/big'))
      // Far past that wait before reading a byte of the large answer.
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      let received = 0
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length
      })
      const closed = once(socket, 'close')
      socket.resume()
      const done = await proxy.finish(2)
      assert.equal(done.bytes, big.length)
      // Idle once the answer is out: the keep-alive wait closes the connection.
      await closed
      assert.ok(received > big.length, `received ${received} bytes`)
    } finally {
      await proxy.close()
    }
  })

  test('answers 408 on a connection that sends nothing within headersTimeoutMs', async () => {
    const proxy = await startProxy(async (ctx) => hit(ctx.target), {
      headersTimeoutMs: 100,
      requestTimeoutMs: 1000,
    })
    try {
      const res = await readUntilClose(await rawSocket(proxy.port))
      assert.equal(res.status, 408)
      assert.match(res.body, /request id/)
    } finally {
      await proxy.close()
    }
  })

  test('shutdown closes an idle connection at once, and a busy one after its answer', async () => {
    const held = deferred()
    const arrived = deferred()
    const proxy = await startProxy(async (ctx) => {
      if (ctx.target === '/slow') {
        arrived.resolve()
        await held.promise
      }
      return hit(ctx.target)
    })
    const idle = await rawSocket(proxy.port)
    idle.write(GET('/a'))
    await readUntil(idle, '/a...')
    const idleClosed = once(idle, 'close')
    const busy = await rawSocket(proxy.port)
    busy.write(GET('/slow'))
    await arrived.promise
    const closing = proxy.proxy.close(5000)
    await idleClosed
    const answered = readUntilClose(busy)
    held.resolve()
    const res = await answered
    assert.equal(res.status, 200)
    assert.equal(res.headers.connection, 'close')
    await closing
  })
})

describe('direct HTTP/1.1 over TLS', { skip: opensslSkipReason() }, () => {
  let certs: CertificateFiles
  before(async () => {
    certs = await makeCertificates({ site: ['site.test'] })
  })
  after(() => certs?.remove())

  test('a stored answer on an HTTP/1.1 TLS connection is written without node:http, with the client certificate seen', async () => {
    const server = certs.servers.site!
    const subjects: (string | undefined)[] = []
    const proxy = await startProxy(
      async (ctx) => {
        subjects.push(ctx.clientSubject)
        return hit(ctx.target)
      },
      {
        transport: {
          kind: 'tls',
          certificates: loadCertificates([{ ...server, field: 'tls' }], certs.ca),
          clientCert: 'request',
          http2: { maxConcurrentStreams: 100, maxClientResets: 100 },
        },
      },
    )
    let nodeRequests = 0
    proxy.proxy.server.on('request', () => nodeRequests++)
    try {
      const socket = tlsConnect({
        port: proxy.port,
        host: '127.0.0.1',
        servername: 'site.test',
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.clientCert),
        key: readFileSync(certs.clientKey),
        ALPNProtocols: ['http/1.1'],
      })
      await once(socket, 'secureConnect')
      socket.write(GET('/t'))
      const text = await readUntil(socket, '/t...')
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: keep-alive\r\n/)
      assert.equal(nodeRequests, 0)
      assert.deepEqual(subjects, ['CN=edgecache test client,O=Edgecache Tests'])
      assert.equal((await proxy.finish()).ctx.scheme, 'https')
      socket.destroy()
    } finally {
      await proxy.close()
    }
  })
})
