/**
 * The public listener's limits and request checks, over real sockets: each refusal is a
 * short text answer with a request id that closes the connection, and the pipeline never
 * sees the request.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { hasCode } from '../../src/errors.ts'
import { textAnswer } from '../../src/pipeline/answer.ts'
import type { RequestContext } from '../../src/pipeline/context.ts'
import {
  deferred,
  type Harness,
  parseResponse,
  type RawResponse,
  rawRequest,
  rawSocket,
  readUntil,
  readUntilClose,
  startProxy,
} from './harness.ts'

/** A refusal: the status, a short text body naming it and the request id, and a closed connection. */
function assertRefused(res: RawResponse, status: number): void {
  assert.equal(res.status, status, res.raw)
  assert.equal(res.headers.connection, 'close')
  assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
  assert.match(res.headers['x-request-id'] ?? '', /^[A-Za-z0-9._:-]{1,128}$/)
  assert.ok(res.body.startsWith(`${status} `), res.body)
  assert.ok(res.body.includes(`(request id ${res.headers['x-request-id']})`), res.body)
  assert.ok(res.body.length < 120, `body too long: ${res.body}`)
}

describe('proxy server limits', () => {
  let proxy: Harness
  const seen: RequestContext[] = []

  before(async () => {
    proxy = await startProxy(async (ctx) => {
      seen.push(ctx)
      return textAnswer(200, 'ok')
    })
  })
  after(() => proxy.close())

  const count = () => seen.length

  test('answers 431 when the header block is larger than maxHeaderBytes', async () => {
    const before = count()
    const res = await rawRequest(
      proxy.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`,
    )
    assertRefused(res, 431)
    assert.equal(count(), before)
    assert.ok(proxy.warnings.some((w) => w.obj.code === 'HPE_HEADER_OVERFLOW'))
  })

  test('answers 431 when there are more header fields than maxHeaderCount', async () => {
    const before = count()
    const fields = Array.from({ length: 21 }, (_, i) => `X-F${i}: ${i}\r\n`).join('')
    const res = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`)
    assertRefused(res, 431)
    assert.match(res.body, /more than 20 fields/)
    assert.equal(count(), before)
  })

  test('accepts exactly maxHeaderCount header fields', async () => {
    // Host and Connection make 20.
    const fields = Array.from({ length: 18 }, (_, i) => `X-F${i}: ${i}\r\n`).join('')
    const res = await rawRequest(
      proxy.port,
      `GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${fields}\r\n`,
    )
    assert.equal(res.status, 200)
  })

  test('answers 414 when the request target is longer than maxUriBytes', async () => {
    const before = count()
    const res = await rawRequest(proxy.port, `GET /${'a'.repeat(256)} HTTP/1.1\r\nHost: a\r\n\r\n`)
    assertRefused(res, 414)
    assert.equal(count(), before)
  })

  test('answers 413 to a Content-Length over maxBodyBytes without reading the body', async () => {
    const before = count()
    // Only the head is sent: the answer must not wait for the 100000 bytes announced.
    const res = await rawRequest(proxy.port, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n')
    assertRefused(res, 413)
    assert.equal(count(), before)
  })

  for (const [name, head] of [
    ['a target not starting with /', 'GET foo HTTP/1.1\r\nHost: a'],
    ['* with a method other than OPTIONS', 'GET * HTTP/1.1\r\nHost: a'],
    ['an HTTP/1.1 request without Host', 'GET / HTTP/1.1\r\nAccept: */*'],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b'],
    ['an invalid Host', 'GET / HTTP/1.1\r\nHost: a.example/evil'],
    ['an authority-form CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443'],
    ['a malformed request line', 'GET / FOO/1.1\r\nHost: a'],
  ] as const) {
    test(`answers 400 to ${name}`, async () => {
      const before = count()
      const res = await rawRequest(proxy.port, `${head}\r\n\r\n`)
      assertRefused(res, 400)
      assert.equal(count(), before)
    })
  }

  test('answers 431 to a request after a kept-alive one', async () => {
    const socket = await rawSocket(proxy.port)
    const response = readUntilClose(socket)
    socket.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\n')
    await readUntil(socket, 'ok\n')
    socket.write(`GET /second HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`)
    const raw = (await response).raw
    const second = parseResponse(raw.slice(raw.indexOf('ok\n') + 3))
    assertRefused(second, 431)
  })

  test('passes OPTIONS * to the pipeline', async () => {
    const res = await rawRequest(proxy.port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    assert.equal(res.status, 200)
    assert.equal(seen.at(-1)?.target, '*')
  })

  // node's parser takes HTTP/2.0 in a request line and refuses other versions itself (400).
  for (const [version, status] of [
    ['2.0', 505],
    ['3.0', 400],
  ] as const) {
    test(`answers ${status} to an HTTP/1 request line that says HTTP/${version}, and keeps serving`, async () => {
      const before = count()
      const res = await rawRequest(proxy.port, `GET / HTTP/${version}\r\nHost: a\r\n\r\n`)
      assertRefused(res, status)
      if (status === 505) assert.match(res.body, /HTTP version 2\.0 is not supported/)
      assert.equal(count(), before)
      const next = await rawRequest(proxy.port, 'GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
      assert.equal(next.status, 200, next.raw)
    })
  }

  test('answers 501 to a transfer coding other than chunked, which the backend would get undone', async () => {
    const before = count()
    const res = await rawRequest(
      proxy.port,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    )
    assertRefused(res, 501)
    assert.match(res.body, /transfer coding "gzip, chunked" is not supported/)
    assert.equal(count(), before)
  })

  test('RFC 9112 §3.2.2: takes a target in absolute-form, with the host from it rather than Host', async () => {
    const res = await rawRequest(
      proxy.port,
      'GET http://Shop.Example:8080/p/1?x=2 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n',
    )
    assert.equal(res.status, 200, res.raw)
    const ctx = seen.at(-1)!
    assert.equal(ctx.host, 'shop.example:8080')
    assert.equal(ctx.target, '/p/1?x=2')
    const bare = await rawRequest(
      proxy.port,
      'GET https://shop.example HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    )
    assert.equal(bare.status, 200, bare.raw)
    assert.equal(seen.at(-1)!.target, '/')
  })

  for (const target of ['http://user@shop.example/p', 'ftp://shop.example/p', 'shop.example/p']) {
    test(`answers 400 to the request target ${target}`, async () => {
      const before = count()
      const res = await rawRequest(proxy.port, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`)
      assertRefused(res, 400)
      assert.equal(count(), before)
    })
  }

  test('passes an HTTP/1.0 request without Host with the empty host', async () => {
    const res = await rawRequest(proxy.port, 'GET /old HTTP/1.0\r\n\r\n')
    assert.equal(res.status, 200)
    assert.equal(seen.at(-1)?.target, '/old')
    assert.equal(seen.at(-1)?.host, '')
  })

  test('reports refusals to onFinish', async () => {
    const n = proxy.finished.length
    await rawRequest(proxy.port, `GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: a\r\n\r\n`)
    const done = await proxy.finish(n + 1)
    assert.equal(done.status, 414)
    assert.equal(done.ctx.body, undefined)
  })
})

describe('proxy server request bodies', () => {
  test('streams a chunked body within maxBodyBytes to the pipeline', async () => {
    const proxy = await startProxy(async (ctx) => {
      let bytes = 0
      for await (const chunk of ctx.body!) bytes += (chunk as Buffer).length
      return textAnswer(200, `got ${bytes}`)
    })
    try {
      const socket = await rawSocket(proxy.port)
      socket.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n')
      socket.write(`200\r\n${'x'.repeat(512)}\r\n200\r\n${'y'.repeat(512)}\r\n0\r\n\r\n`)
      const first = await readUntil(socket, 'got 1024')
      assert.match(first, /^HTTP\/1\.1 200/)
      assert.doesNotMatch(first, /connection: close/i)
      socket.end()
    } finally {
      await proxy.close()
    }
  })

  test('fails a chunked body past maxBodyBytes and answers 413 when nothing was written', async () => {
    let bodyError: unknown
    const readFailed = deferred()
    const proxy = await startProxy(async (ctx) => {
      try {
        for await (const _ of ctx.body!) {
          // read it all, as an upstream request would
        }
      } catch (err) {
        bodyError = err
        readFailed.resolve()
        throw err
      }
      return textAnswer(200, 'unreachable')
    })
    try {
      const res = await rawRequest(
        proxy.port,
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${'x'.repeat(1024)}\r\n1\r\nz\r\n`,
      )
      assertRefused(res, 413)
      await readFailed.promise
      assert.ok(hasCode(bodyError, 'EC_ERR_REQUEST_BODY_TOO_LARGE'))
      assert.equal((await proxy.finish()).status, 413)
    } finally {
      await proxy.close()
    }
  })

  test('destroys the connection when a chunked body passes maxBodyBytes after the response began', async () => {
    let bodyError: unknown
    const readFailed = deferred()
    const proxy = await startProxy(async (ctx) => {
      // An echo-like stage: answers at once and keeps reading the request body.
      const out = new PassThrough()
      out.write('started\n')
      ;(async () => {
        try {
          for await (const _ of ctx.body!) {
            // drain
          }
        } catch (err) {
          bodyError = err
          readFailed.resolve()
        }
      })()
      return { status: 200, headers: {}, body: out }
    })
    try {
      const socket = await rawSocket(proxy.port)
      const closed = readUntilClose(socket)
      socket.write(
        'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n',
      )
      await readUntil(socket, 'started')
      socket.write(`400\r\n${'x'.repeat(1024)}\r\n`)
      const res = await closed
      assert.equal(res.status, 200)
      // Cut off: the chunked body never got its last chunk.
      assert.ok(!res.raw.endsWith('0\r\n\r\n'), res.raw)
      await readFailed.promise
      assert.ok(hasCode(bodyError, 'EC_ERR_REQUEST_BODY_TOO_LARGE'))
    } finally {
      await proxy.close()
    }
  })
})

describe('proxy server malformed bodies', () => {
  test('answers 400 through the request when its chunked body is malformed', async () => {
    const bodyFailed = deferred<unknown>()
    const proxy = await startProxy(async (ctx) => {
      try {
        for await (const _ of ctx.body!) {
          // read on until the parser gives up
        }
      } catch (err) {
        bodyFailed.resolve(err)
      }
      return textAnswer(200, 'unreachable')
    })
    try {
      const res = await rawRequest(
        proxy.port,
        'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n',
      )
      assertRefused(res, 400)
      assert.ok(hasCode(await bodyFailed.promise, 'EC_ERR_REQUEST_BAD'))
    } finally {
      await proxy.close()
    }
  })
})

describe('proxy server timeouts and connections', () => {
  test('answers 408 when the header block does not arrive within headersTimeoutMs', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'), {
      headersTimeoutMs: 100,
      requestTimeoutMs: 1000,
    })
    try {
      const res = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n')
      assertRefused(res, 408)
    } finally {
      await proxy.close()
    }
  })

  test('answers 408 through the request when its body does not arrive within requestTimeoutMs', async () => {
    const bodyFailed = deferred<unknown>()
    const proxy = await startProxy(
      async (ctx) => {
        try {
          for await (const _ of ctx.body!) {
            // wait for the rest
          }
        } catch (err) {
          bodyFailed.resolve(err)
        }
        return textAnswer(200, 'unreachable')
      },
      { headersTimeoutMs: 100, requestTimeoutMs: 200 },
    )
    try {
      const res = await rawRequest(
        proxy.port,
        'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345',
      )
      assertRefused(res, 408)
      assert.equal((await proxy.finish()).status, 408)
      assert.ok((await bodyFailed.promise) instanceof Error)
    } finally {
      await proxy.close()
    }
  })

  test('closes a keep-alive connection idle for keepAliveTimeoutMs', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'), { keepAliveTimeoutMs: 100 })
    try {
      const socket = await rawSocket(proxy.port)
      const closed = once(socket, 'close')
      socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
      await readUntil(socket, 'ok\n')
      await closed
    } finally {
      await proxy.close()
    }
  })

  test('closes connections past maxConnections', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'), { maxConnections: 1 })
    try {
      const accepted = once(proxy.proxy.server, 'connection')
      const first = await rawSocket(proxy.port)
      await accepted
      const second = await rawSocket(proxy.port)
      const res = await readUntilClose(second)
      assert.equal(res.raw, '')
      assert.ok(proxy.warnings.some((w) => w.msg === 'connection dropped'))
      first.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
      assert.equal((await readUntilClose(first)).status, 200)
    } finally {
      await proxy.close()
    }
  })
})

describe('a malformed request pipelined behind a good one', () => {
  for (const pending of [false, true]) {
    test(`answers the good one first, then 400 and closes (${pending ? 'its answer still pending' : 'answered at once'})`, async () => {
      const arrived = deferred()
      const release = deferred()
      const proxy = await startProxy(async () => {
        arrived.resolve()
        if (pending) await release.promise
        return textAnswer(200, 'the good one')
      })
      try {
        const socket = await rawSocket(proxy.port)
        const received = readUntilClose(socket)
        socket.write('GET /good HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n')
        await arrived.promise
        release.resolve()
        const raw = (await received).raw
        const first = raw.indexOf('HTTP/1.1 200 ')
        const second = raw.indexOf('HTTP/1.1 400 ')
        assert.ok(first === 0, raw)
        assert.ok(raw.includes('the good one'), raw)
        assert.ok(second > first, raw)
      } finally {
        await proxy.close()
      }
    })
  }
})
