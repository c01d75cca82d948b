import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createServer } from 'node:net'
import { PassThrough, Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { hasCode } from '../../src/errors.ts'
import { createUpstreamStage } from '../../src/pipeline/stages/upstream.ts'
import { createForwarding } from '../../src/upstream/forwarding.ts'
import { createUpstream, type Upstream } from '../../src/upstream/upstream.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { makeContext } from './make-context.ts'

async function readAll(body: Buffer | Readable | undefined): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0)
  if (Buffer.isBuffer(body)) return body
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** A promise and the function that settles it, for handing a moment from origin to test. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire = () => {}
  const promise = new Promise<void>((resolve) => {
    fire = resolve
  })
  return { promise, fire }
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

let origin: Origin
let upstream: Upstream

before(async () => {
  origin = await startOrigin()
  upstream = createUpstream({
    url: origin.url,
    headersTimeoutMs: 5_000,
    forwarding: createForwarding({ trustedProxies: ['10.0.0.0/8', 'fd00::/8'] }),
  })
})

after(async () => {
  await upstream.destroy()
  await origin.close()
})

describe('upstream: header fields', () => {
  it('removes hop-by-hop request fields, including those Connection names', async () => {
    origin.handle((_req, res) => {
      res.end('ok')
    })
    await upstream.send(
      makeContext({
        headers: {
          connection: 'keep-alive, X-Hop',
          'x-hop': '1',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          trailer: 'x-checksum',
          upgrade: 'websocket',
          'proxy-authorization': 'Basic eDp5',
          'proxy-connection': 'keep-alive',
          'x-end-to-end': 'kept',
        },
      }),
    )
    const seen = origin.requests.at(-1)!.headers
    for (const name of [
      'x-hop',
      'keep-alive',
      'te',
      'trailer',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
    ]) {
      assert.equal(seen[name], undefined, name)
    }
    assert.equal(seen['x-end-to-end'], 'kept')
  })

  it('removes hop-by-hop response fields, keeps Content-Length and appends to Via', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, {
        connection: 'keep-alive, X-Secret',
        'x-secret': 's',
        'keep-alive': 'timeout=5',
        'proxy-authenticate': 'Basic',
        'x-end-to-end': 'e',
        via: '1.1 origin-cdn',
        'content-length': '2',
      })
      res.end('ok')
    })
    const answer = await upstream.send(makeContext())
    await readAll(answer.body)
    for (const name of ['connection', 'x-secret', 'keep-alive', 'proxy-authenticate']) {
      assert.equal(answer.headers[name], undefined, name)
    }
    assert.equal(answer.headers['x-end-to-end'], 'e')
    assert.equal(answer.headers['content-length'], '2')
    assert.equal(answer.headers.via, '1.1 origin-cdn, 1.1 edgecache')
  })

  it('does not pass on the Transfer-Encoding of a chunked response', async () => {
    origin.handle((_req, res) => {
      res.write('a')
      res.end('b')
    })
    const answer = await upstream.send(makeContext())
    assert.equal((await readAll(answer.body)).toString(), 'ab')
    assert.equal(answer.headers['transfer-encoding'], undefined)
  })

  it('replaces the forwarding fields of an untrusted client', async () => {
    origin.handle((_req, res) => {
      res.end()
    })
    await upstream.send(
      makeContext({
        clientAddress: '192.0.2.10',
        headers: {
          'x-forwarded-for': '203.0.113.9',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'evil.example',
          'x-real-ip': '203.0.113.9',
          forwarded: 'for=203.0.113.9',
        },
      }),
    )
    const seen = origin.requests.at(-1)!.headers
    assert.equal(seen['x-forwarded-for'], '192.0.2.10')
    assert.equal(seen['x-forwarded-proto'], 'http')
    assert.equal(seen['x-forwarded-host'], 'shop.example')
    assert.equal(seen['x-real-ip'], '192.0.2.10')
    assert.equal(seen.forwarded, undefined)
  })

  for (const clientAddress of ['10.9.8.7', '::ffff:10.9.8.7', 'fd00::7']) {
    it(`appends to X-Forwarded-For from trusted proxy ${clientAddress}`, async () => {
      origin.handle((_req, res) => {
        res.end()
      })
      await upstream.send(
        makeContext({
          clientAddress,
          headers: {
            'x-forwarded-for': '203.0.113.9',
            'x-forwarded-proto': 'https',
            forwarded: 'for=203.0.113.9',
          },
        }),
      )
      const seen = origin.requests.at(-1)!.headers
      assert.equal(seen['x-forwarded-for'], `203.0.113.9, ${clientAddress.replace('::ffff:', '')}`)
      assert.equal(seen['x-forwarded-proto'], 'https')
      assert.equal(seen.forwarded, 'for=203.0.113.9')
    })
  }

  it('strips method and path override fields', async () => {
    origin.handle((_req, res) => {
      res.end()
    })
    await upstream.send(
      makeContext({
        headers: {
          'x-http-method-override': 'DELETE',
          'x-original-url': '/admin',
          'x-rewrite-url': '/admin',
        },
      }),
    )
    const seen = origin.requests.at(-1)!
    assert.equal(seen.method, 'GET')
    assert.equal(seen.url, '/')
    assert.equal(seen.headers['x-http-method-override'], undefined)
    assert.equal(seen.headers['x-original-url'], undefined)
    assert.equal(seen.headers['x-rewrite-url'], undefined)
  })

  it('sends Via, X-Request-Id and the client Host', async () => {
    origin.handle((_req, res) => {
      res.end()
    })
    await upstream.send(
      makeContext({
        id: 'req-42',
        host: 'shop.example:8443',
        target: '/items?page=2',
        headers: { via: '1.0 corp', 'x-request-id': 'spoof' },
      }),
    )
    const seen = origin.requests.at(-1)!
    assert.equal(seen.url, '/items?page=2')
    assert.equal(seen.headers.via, '1.0 corp, 1.1 edgecache')
    assert.equal(seen.headers['x-request-id'], 'req-42')
    assert.equal(seen.headers.host, 'shop.example:8443')
  })

  it('sends hostOverride as Host when configured', async () => {
    const overridden = createUpstream({
      url: origin.url,
      forwarding: createForwarding({ hostOverride: 'backend.internal' }),
    })
    try {
      origin.handle((_req, res) => {
        res.end()
      })
      await overridden.send(makeContext())
      assert.equal(origin.requests.at(-1)!.headers.host, 'backend.internal')
    } finally {
      await overridden.close()
    }
  })
})

describe('upstream: bodies', () => {
  it('streams a 5 MiB request body to the backend intact', async () => {
    origin.handle((_req, res, body) => {
      res.end(createHash('sha256').update(body).digest('hex'))
    })
    const chunks = Array.from({ length: 80 }, (_, i) => Buffer.alloc(64 * 1024, i))
    const expected = Buffer.concat(chunks)
    const answer = await upstream.send(
      makeContext({
        method: 'POST',
        headers: { 'content-length': String(expected.length), 'content-type': 'application/octet-stream' },
        body: Readable.from(chunks),
      }),
    )
    assert.equal(answer.status, 200)
    assert.equal((await readAll(answer.body)).toString(), createHash('sha256').update(expected).digest('hex'))
    const seen = origin.requests.at(-1)!
    assert.equal(seen.headers['content-length'], String(5 * 1024 * 1024))
    assert.ok(seen.body.equals(expected))
  })

  it('streams a request body without Content-Length as chunked', async () => {
    origin.handle((_req, res) => {
      res.end()
    })
    await upstream.send(
      makeContext({ method: 'PUT', body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) }),
    )
    const seen = origin.requests.at(-1)!
    assert.equal(seen.body.toString(), 'abcd')
    assert.equal(seen.headers['transfer-encoding'], 'chunked')
  })

  it('answers as soon as the header section arrives and streams the body', async () => {
    const release = signal()
    origin.handle(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first ')
      await release.promise
      res.end('second')
    })
    const ctx = makeContext()
    const answer = await upstream.send(ctx)
    assert.equal(answer.status, 200)
    assert.ok(answer.body instanceof Readable)
    const iterator = answer.body[Symbol.asyncIterator]()
    const first = await iterator.next()
    assert.equal(String(first.value), 'first ')
    release.fire()
    const rest: Buffer[] = []
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      rest.push(next.value as Buffer)
    assert.equal(Buffer.concat(rest).toString(), 'second')
    assert.equal(ctx.facts.upstreamStatus, 200)
    assert.equal(typeof ctx.facts.upstreamMs, 'number')
    assert.ok(ctx.facts.upstreamMs! >= 0)
  })

  it('answers a small response that arrives whole as one Buffer, not a stream', async () => {
    origin.handle((_req, res) => {
      // Header section and body in one write, so they arrive in one socket read.
      res.writeHead(200, { 'content-length': '1024' })
      res.end(Buffer.alloc(1024, 0x61))
    })
    const answer = await upstream.send(makeContext())
    assert.ok(Buffer.isBuffer(answer.body))
    assert.deepEqual(answer.body, Buffer.alloc(1024, 0x61))
    assert.equal(answer.headers['content-length'], '1024')
  })

  it('streams a body larger than one read intact, whatever arrived with the header section', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251
    origin.handle((_req, res) => {
      res.writeHead(200, { 'content-length': String(payload.length) })
      res.end(payload)
    })
    const answer = await upstream.send(makeContext())
    assert.ok(answer.body instanceof Readable)
    const received = await readAll(answer.body)
    assert.equal(
      createHash('sha256').update(received).digest('hex'),
      createHash('sha256').update(payload).digest('hex'),
    )
  })

  it('has no body for HEAD, and keeps its Content-Length', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, { 'content-length': '5' })
      res.end()
    })
    const answer = await upstream.send(makeContext({ method: 'HEAD' }))
    assert.equal(answer.body, undefined)
    assert.equal(answer.headers['content-length'], '5')
  })

  it('has no body for 204 and 304, and reuses the connection after them', async () => {
    const single = createUpstream({ url: origin.url, connections: 1, forwarding: createForwarding() })
    const ports: number[] = []
    origin.handle((req, res) => {
      ports.push(req.socket.remotePort!)
      if (req.url === '/204') res.writeHead(204).end()
      else if (req.url === '/304') res.writeHead(304, { etag: '"v1"' }).end()
      else res.end('ok')
    })
    try {
      const noContent = await single.send(makeContext({ target: '/204' }))
      assert.equal(noContent.status, 204)
      assert.equal(noContent.body, undefined)
      const notModified = await single.send(makeContext({ target: '/304' }))
      assert.equal(notModified.status, 304)
      assert.equal(notModified.body, undefined)
      const ok = await single.send(makeContext({ target: '/200' }))
      assert.equal((await readAll(ok.body)).toString(), 'ok')
      assert.equal(new Set(ports).size, 1)
    } finally {
      await single.close()
    }
  })
})

describe('upstream: failures', () => {
  it('fails with EC_ERR_UPSTREAM_CONNECT (502) when the connection is refused', async () => {
    const refused = createUpstream({
      url: `http://127.0.0.1:${await closedPort()}`,
      forwarding: createForwarding(),
    })
    try {
      await assert.rejects(
        refused.send(makeContext()),
        (err) => hasCode(err, 'EC_ERR_UPSTREAM_CONNECT') && err.status === 502,
      )
    } finally {
      await refused.destroy()
    }
  })

  it('fails with EC_ERR_UPSTREAM_TIMEOUT (504) when no header section comes within headersTimeoutMs', async () => {
    const impatient = createUpstream({
      url: origin.url,
      headersTimeoutMs: 200,
      forwarding: createForwarding(),
    })
    origin.handle(() => {})
    try {
      await assert.rejects(
        impatient.send(makeContext()),
        (err) => hasCode(err, 'EC_ERR_UPSTREAM_TIMEOUT') && err.status === 504,
      )
    } finally {
      await impatient.destroy()
    }
  })

  it('fails with EC_ERR_UPSTREAM_RESET (502) when the backend drops the connection before answering', async () => {
    origin.handle((req) => {
      req.socket.destroy()
    })
    await assert.rejects(
      upstream.send(makeContext()),
      (err) => hasCode(err, 'EC_ERR_UPSTREAM_RESET') && err.status === 502,
    )
  })

  it('fails with EC_ERR_UPSTREAM_BAD_RESPONSE (502) when the backend does not speak HTTP', async () => {
    const garbage = createServer((socket) => {
      socket.on('data', () => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'))
    })
    garbage.listen(0, '127.0.0.1')
    await once(garbage, 'listening')
    const { port } = garbage.address() as { port: number }
    const confused = createUpstream({ url: `http://127.0.0.1:${port}`, forwarding: createForwarding() })
    try {
      await assert.rejects(
        confused.send(makeContext()),
        (err) => hasCode(err, 'EC_ERR_UPSTREAM_BAD_RESPONSE') && err.status === 502,
      )
    } finally {
      await confused.destroy()
      garbage.close()
    }
  })

  it('errors the body stream when the backend drops the connection mid-body', async () => {
    origin.handle((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' })
      res.write(Buffer.alloc(1000), () => res.socket?.destroy())
    })
    const answer = await upstream.send(makeContext())
    assert.equal(answer.status, 200)
    await assert.rejects(readAll(answer.body), (err) => hasCode(err, 'EC_ERR_UPSTREAM_RESET'))
  })
})

describe('upstream: client abort', () => {
  it('cancels the upstream request when ctx.signal aborts before the answer', async () => {
    const arrived = signal()
    const closed = signal()
    origin.handle((_req, res) => {
      res.on('close', closed.fire)
      arrived.fire()
    })
    const controller = new AbortController()
    const pending = upstream.send(makeContext({ signal: controller.signal }))
    await arrived.promise
    controller.abort()
    await assert.rejects(pending, { name: 'AbortError' })
    await closed.promise
  })

  it('cancels the upstream transfer when ctx.signal aborts during the body', async () => {
    const closed = signal()
    origin.handle((_req, res) => {
      res.on('close', closed.fire)
      res.writeHead(200, { 'content-length': '100000' })
      res.write('partial')
    })
    const controller = new AbortController()
    const answer = await upstream.send(makeContext({ signal: controller.signal }))
    const body = answer.body as Readable
    const failed = readAll(body)
    controller.abort()
    await assert.rejects(failed, { name: 'AbortError' })
    await closed.promise
  })

  it('answers at once, and never sends, a request aborted while it waits for a connection', async () => {
    const single = createUpstream({ url: origin.url, connections: 1, forwarding: createForwarding() })
    const arrived = signal()
    const release = signal()
    origin.handle(async (_req, res) => {
      arrived.fire()
      await release.promise
      res.end('first')
    })
    try {
      const first = single.send(makeContext({ target: '/first' }))
      await arrived.promise
      const controller = new AbortController()
      const queued = single.send(makeContext({ target: '/queued', signal: controller.signal }))
      controller.abort()
      await assert.rejects(queued, { name: 'AbortError' })
      release.fire()
      assert.equal((await readAll((await first).body)).toString(), 'first')
      const after = await single.send(makeContext({ target: '/after' }))
      await readAll(after.body)
      assert.equal(origin.count('/queued'), 0)
    } finally {
      await single.close()
    }
  })

  it('does not send anything when ctx.signal has already aborted', async () => {
    const before = origin.count()
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(upstream.send(makeContext({ signal: controller.signal })), { name: 'AbortError' })
    assert.equal(origin.count(), before)
  })
})

describe('upstream stage', () => {
  it('answers with the response of the pool the route names and never calls next', async () => {
    origin.handle((_req, res) => {
      res.end('from origin')
    })
    const asked: (string | undefined)[] = []
    const stage = createUpstreamStage({
      pool: (name) => {
        asked.push(name)
        return upstream
      },
    })
    assert.equal(stage.name, 'upstream')
    const ctx = makeContext()
    ctx.facts.upstream = 'app'
    const answer = await stage.handle(ctx, () => Promise.reject(new Error('next called')))
    assert.equal((await readAll(answer.body)).toString(), 'from origin')
    assert.deepEqual(asked, ['app'])
  })

  it('reads a body up to requestBufferingBytes and forwards it as a Buffer with its length', async () => {
    origin.handle((req, res) => {
      res.end(`${req.headers['content-length']} ${req.headers['transfer-encoding']}`)
    })
    const stage = createUpstreamStage({ pool: () => upstream, requestBufferingBytes: () => 5 })
    const body = Readable.from([Buffer.from('ab'), Buffer.from('cde')], { objectMode: false })
    const answer = await stage.handle(makeContext({ method: 'POST', body }), () =>
      Promise.reject(new Error('next called')),
    )
    assert.equal((await readAll(answer.body)).toString(), '5 undefined')
    assert.equal(origin.requests.at(-1)?.body.toString(), 'abcde')
  })

  it('streams a body longer than requestBufferingBytes, and every body when it is 0', async () => {
    // Tells the test when a request's header section has arrived, so the test ends the body
    // only after the request went out: a body still open then can only go out chunked.
    let arrived = signal()
    const streaming = createHttpServer((req, res) => {
      arrived.fire()
      let text = ''
      req.on('data', (chunk: Buffer) => {
        text += chunk.toString()
      })
      req.on('end', () => {
        res.end(`${req.headers['content-length']} ${req.headers['transfer-encoding']} ${text}`)
      })
    })
    await new Promise<void>((resolve) => streaming.listen(0, '127.0.0.1', resolve))
    const { port } = streaming.address() as AddressInfo
    const direct = createUpstream({ url: `http://127.0.0.1:${port}`, forwarding: createForwarding() })
    try {
      for (const limit of [5, 0]) {
        arrived = signal()
        const stage = createUpstreamStage({ pool: () => direct, requestBufferingBytes: () => limit })
        const body = new PassThrough()
        body.write('abcdef')
        const answer = stage.handle(makeContext({ method: 'POST', body }), () =>
          Promise.reject(new Error('next called')),
        )
        await arrived.promise
        body.end('g')
        assert.equal(
          (await readAll((await answer).body)).toString(),
          'undefined chunked abcdefg',
          `limit ${limit}`,
        )
      }
    } finally {
      await direct.destroy()
      streaming.closeAllConnections()
      streaming.close()
    }
  })
})

describe('createUpstream: options', () => {
  for (const [field, value] of [
    ['url', 'http://backend.internal/api'],
    ['url', 'ftp://backend.internal'],
    ['connections', 0],
    ['headersTimeoutMs', -1],
    ['connectTimeoutMs', 1.5],
  ] as const) {
    it(`names ${field} when it is ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => createUpstream({ url: 'http://127.0.0.1:1', forwarding: createForwarding(), [field]: value }),
        (err) => hasCode(err, 'EC_ERR_CONFIG_INVALID') && err.message.includes(field),
      )
    })
  }
})
