/**
 * How the public listener writes an Answer: whole buffers, streams with backpressure,
 * no body for HEAD, a cut-off response when the body fails, and the body stream destroyed
 * (so the upstream request aborts) when the client goes away.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { describe, test } from 'node:test'
import type { Answer } from '../../src/pipeline/answer.ts'
import { textAnswer } from '../../src/pipeline/answer.ts'
import type { RequestContext } from '../../src/pipeline/context.ts'
import { deferred, rawRequest, rawSocket, readUntil, startProxy } from './harness.ts'

function streamAnswer(body: Readable, status = 200): Answer {
  return { status, headers: { 'content-type': 'text/plain' }, body }
}

describe('writing answers', () => {
  test('sends a Buffer body and reports its size to onFinish', async () => {
    const proxy = await startProxy(async () => textAnswer(201, 'made', { etag: '"1"' }))
    try {
      const res = await proxy.request('/')
      assert.equal(res.statusCode, 201)
      assert.equal(res.headers.etag, '"1"')
      assert.equal(await res.body.text(), 'made\n')
      const done = await proxy.finish()
      assert.equal(done.status, 201)
      assert.equal(done.bytes, 5)
    } finally {
      await proxy.close()
    }
  })

  test('streams a Readable body and counts its bytes', async () => {
    const proxy = await startProxy(async () =>
      streamAnswer(Readable.from([Buffer.from('one '), Buffer.from('two')])),
    )
    try {
      const res = await proxy.request('/')
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['transfer-encoding'], 'chunked')
      assert.equal(await res.body.text(), 'one two')
      assert.equal((await proxy.finish()).bytes, 7)
    } finally {
      await proxy.close()
    }
  })

  test('streams with backpressure: a large body arrives whole', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a')
    const proxy = await startProxy(async () =>
      streamAnswer(Readable.from(Array.from({ length: 64 }, () => chunk))),
    )
    try {
      const res = await proxy.request('/')
      assert.equal((await res.body.arrayBuffer()).byteLength, 64 * chunk.length)
    } finally {
      await proxy.close()
    }
  })

  test('sends no body to HEAD, and keeps the header fields', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'hello'))
    try {
      const res = await proxy.request('/', { method: 'HEAD' })
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['content-length'], '6')
      assert.equal(await res.body.text(), '')
      assert.equal((await proxy.finish()).bytes, 0)
    } finally {
      await proxy.close()
    }
  })

  for (const [name, method, status] of [
    ['HEAD', 'HEAD', 200],
    ['a 304', 'GET', 304],
  ] as const) {
    test(`destroys a stream body given for ${name}`, async () => {
      const body = new PassThrough()
      const proxy = await startProxy(async () => streamAnswer(body, status))
      try {
        const closed = once(body, 'close')
        const res = await proxy.request('/', { method })
        assert.equal(res.statusCode, status)
        assert.equal(await res.body.text(), '')
        await closed
        assert.ok(body.destroyed)
      } finally {
        await proxy.close()
      }
    })
  }

  test('destroys the body stream and aborts ctx.signal when the client leaves mid-stream', async () => {
    const body = new PassThrough()
    let ctx: RequestContext | undefined
    const proxy = await startProxy(async (c) => {
      ctx = c
      body.write('first chunk')
      return streamAnswer(body)
    })
    try {
      // stream.pipeline destroys it with an error; only its closing matters here.
      const bodyClosed = new Promise((resolve) => body.on('close', resolve))
      const req = httpRequest({ port: proxy.port, host: '127.0.0.1', path: '/', agent: false })
      req.on('error', () => {})
      req.end()
      const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage]
      await once(res, 'data')
      req.destroy()
      await bodyClosed
      assert.ok(body.destroyed)
      assert.ok(ctx?.signal.aborted)
      const done = await proxy.finish()
      assert.equal(done.status, 200)
      assert.equal(done.bytes, 'first chunk'.length)
      assert.equal(proxy.warnings.length, 0)
    } finally {
      await proxy.close()
    }
  })

  test('aborts ctx.signal and drops the late answer when the client leaves before it', async () => {
    const late = new PassThrough()
    const answered = deferred()
    const proxy = await startProxy(async (ctx) => {
      const aborted = once(ctx.signal, 'abort')
      arrived.resolve()
      await aborted
      answered.resolve()
      return streamAnswer(late)
    })
    const arrived = deferred()
    try {
      const req = httpRequest({ port: proxy.port, host: '127.0.0.1', path: '/', agent: false })
      req.on('error', () => {})
      req.end()
      await arrived.promise
      req.destroy()
      const done = await proxy.finish()
      assert.equal(done.status, 499)
      await answered.promise
      await new Promise((resolve) => late.on('close', resolve))
      assert.equal(late.destroyed, true)
    } finally {
      await proxy.close()
    }
  })

  test('cuts the response off when the body stream fails after the header was sent', async () => {
    const body = new PassThrough()
    const proxy = await startProxy(async () => {
      body.write('partial')
      return streamAnswer(body)
    })
    try {
      const res = await proxy.request('/')
      assert.equal(res.statusCode, 200)
      const text = res.body.text()
      body.destroy(new Error('upstream reset'))
      await assert.rejects(text)
      assert.ok(proxy.warnings.some((w) => w.msg === 'answer body failed, response cut short'))
    } finally {
      await proxy.close()
    }
  })

  test('cuts off a response with Content-Length too, rather than ending it cleanly', async () => {
    const body = new PassThrough()
    const proxy = await startProxy(async () => {
      body.write('12345')
      setImmediate(() => body.destroy(new Error('upstream reset')))
      return { status: 200, headers: { 'content-length': '10' }, body }
    })
    try {
      const res = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-length'], '10')
      assert.equal(res.body, '12345')
    } finally {
      await proxy.close()
    }
  })

  test('answers 500 with the request id when the pipeline rejects', async () => {
    const proxy = await startProxy(async () => {
      throw new Error('secret internals')
    })
    try {
      const res = await proxy.request('/', { headers: { 'x-request-id': 'req-500' } })
      assert.equal(res.statusCode, 500)
      assert.equal(res.headers['x-request-id'], 'req-500')
      const text = await res.body.text()
      assert.equal(text, '500 internal error (request id req-500)\n')
      assert.equal(proxy.errors[0]?.msg, 'pipeline rejected')
    } finally {
      await proxy.close()
    }
  })

  test('answers 500 when an answer cannot be written', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok', { 'x-bad': 'a\r\nb' }))
    try {
      const res = await proxy.request('/')
      assert.equal(res.statusCode, 500)
      assert.match(await res.body.text(), /^500 internal error \(request id /)
      assert.equal(proxy.errors[0]?.msg, 'answer not writable')
    } finally {
      await proxy.close()
    }
  })

  test('keeps the connection for the next request', async () => {
    const proxy = await startProxy(async (ctx) => textAnswer(200, `answer for ${ctx.target}`))
    try {
      const socket = await rawSocket(proxy.port)
      for (const path of ['/a', '/b']) {
        const response = readUntil(socket, `answer for ${path}\n`)
        socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`)
        assert.match(await response, /connection: keep-alive/i)
      }
      socket.end()
    } finally {
      await proxy.close()
    }
  })
})
