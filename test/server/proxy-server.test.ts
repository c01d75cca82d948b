/**
 * The RequestContext the public listener builds, its options, listening, and
 * `Expect: 100-continue`, over real sockets with a fake pipeline.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, test } from 'node:test'
import type { Clock } from '../../src/clock.ts'
import { hasCode } from '../../src/errors.ts'
import { textAnswer } from '../../src/pipeline/answer.ts'
import { createFacts, forwardOf, type RequestContext } from '../../src/pipeline/context.ts'
import { createProxyServer } from '../../src/server/proxy-server.ts'
import { defaults, deferred, rawSocket, readUntil, readUntilClose, startProxy } from './harness.ts'

/** A clock that moves only when the test says. */
function fakeClock(start: number): Clock & { advance(ms: number): void } {
  let now = start
  return {
    now: () => now,
    advance(ms) {
      now += ms
    },
  }
}

const noLog = { error() {}, warn() {} }

describe('the request context', () => {
  test('carries the request as received, with no body for a GET', async () => {
    const clock = fakeClock(1_000_000)
    let seen: RequestContext | undefined
    const proxy = await startProxy(
      async (ctx) => {
        seen = ctx
        clock.advance(7)
        return textAnswer(200, 'ok')
      },
      { clock },
    )
    try {
      const res = await proxy.request('/path?q=1', { headers: { host: 'Example.COM:8080', 'x-custom': 'v' } })
      await res.body.dump()
      assert.ok(seen !== undefined)
      assert.equal(seen.method, 'GET')
      assert.equal(seen.scheme, 'http')
      assert.equal(seen.host, 'example.com:8080')
      assert.equal(seen.target, '/path?q=1')
      assert.equal(seen.headers['x-custom'], 'v')
      assert.equal(seen.clientAddress, '127.0.0.1')
      assert.equal(seen.body, undefined)
      assert.equal(seen.receivedAt, 1_000_000)
      assert.equal(seen.signal.aborted, false)
      assert.deepEqual(seen.facts, createFacts())
      assert.equal((await proxy.finish()).totalMs, 7)
    } finally {
      await proxy.close()
    }
  })

  test('its signal survives forwardOf and aborts when the client leaves', async () => {
    const arrived = deferred()
    let forwarded: RequestContext | undefined
    const proxy = await startProxy(async (ctx) => {
      forwarded = forwardOf(ctx, { method: 'GET' })
      arrived.resolve()
      await once(forwarded.signal, 'abort')
      return textAnswer(200, 'never sent')
    })
    try {
      const socket = await rawSocket(proxy.port)
      socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
      await arrived.promise
      assert.equal(forwarded?.signal.aborted, false)
      socket.destroy()
      const done = await proxy.finish()
      assert.equal(done.ctx.signal, forwarded?.signal)
      assert.equal(forwarded?.signal.aborted, true)
    } finally {
      await proxy.close()
    }
  })

  test('gives the pipeline a Content-Length body and keeps the connection', async () => {
    const proxy = await startProxy(async (ctx) => {
      const chunks: Buffer[] = []
      for await (const chunk of ctx.body!) chunks.push(chunk as Buffer)
      return textAnswer(200, `${ctx.method} ${Buffer.concat(chunks).toString()}`)
    })
    try {
      const socket = await rawSocket(proxy.port)
      for (const payload of ['first', 'second']) {
        const response = readUntil(socket, `POST ${payload}\n`)
        socket.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`)
        assert.match(await response, /connection: keep-alive/i)
      }
      socket.end()
    } finally {
      await proxy.close()
    }
  })

  test('closes the connection after answering without reading a body', async () => {
    const proxy = await startProxy(async () => textAnswer(403, 'no'))
    try {
      const socket = await rawSocket(proxy.port)
      const response = readUntilClose(socket)
      // Only half the body is sent: the rest will never be read, so the connection goes.
      socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345')
      const res = await response
      assert.equal(res.status, 403)
      assert.equal(res.headers.connection, 'close')
    } finally {
      await proxy.close()
    }
  })

  test('logs, and survives, an onFinish that throws', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'), {
      onFinish() {
        throw new Error('access log broke')
      },
    })
    try {
      await (await proxy.request('/')).body.dump()
      await (await proxy.request('/')).body.dump()
      assert.equal(proxy.errors.filter((e) => e.msg === 'onFinish failed').length, 2)
    } finally {
      await proxy.close()
    }
  })
})

describe('Expect: 100-continue', () => {
  test('sends 100 Continue only when the pipeline reads the body', async () => {
    const proxy = await startProxy(async (ctx) => {
      let text = ''
      for await (const chunk of ctx.body!) text += chunk
      return textAnswer(200, `got ${text}`)
    })
    try {
      const socket = await rawSocket(proxy.port)
      socket.write('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
      const interim = await readUntil(socket, '\r\n\r\n')
      assert.match(interim, /^HTTP\/1\.1 100 Continue\r\n/)
      const response = readUntil(socket, 'got hello')
      socket.write('hello')
      assert.match(await response, /^HTTP\/1\.1 200 OK/)
      socket.end()
    } finally {
      await proxy.close()
    }
  })

  test('answers 413 to an oversized body without 100 Continue', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'unreachable'))
    try {
      const socket = await rawSocket(proxy.port)
      const response = readUntilClose(socket)
      socket.write('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n')
      const res = await response
      assert.equal(res.status, 413)
      assert.doesNotMatch(res.raw, /100 Continue/)
    } finally {
      await proxy.close()
    }
  })

  test('sends no 100 Continue when the pipeline answers without the body', async () => {
    const proxy = await startProxy(async () => textAnswer(401, 'who are you'))
    try {
      const socket = await rawSocket(proxy.port)
      const response = readUntilClose(socket)
      socket.write('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
      const res = await response
      assert.equal(res.status, 401)
      assert.doesNotMatch(res.raw, /100 Continue/)
    } finally {
      await proxy.close()
    }
  })
})

describe('createProxyServer', () => {
  for (const [field, value] of [
    ['maxHeaderBytes', 0],
    ['maxHeaderCount', 1.5],
    ['maxUriBytes', -1],
    ['maxBodyBytes', Number.NaN],
    ['headersTimeoutMs', 0],
    ['backlog', 0],
  ] as const) {
    test(`refuses ${field} = ${value}, naming the field`, () => {
      assert.throws(
        () =>
          createProxyServer({
            ...defaults,
            [field]: value,
            pipeline: async () => textAnswer(200, ''),
            log: noLog,
          }),
        (err: unknown) =>
          hasCode(err, 'EC_ERR_CONFIG_INVALID') && err.message.includes(`proxy server: ${field} `),
      )
    })
  }

  test('refuses a headers timeout longer than the request timeout', () => {
    assert.throws(
      () =>
        createProxyServer({
          ...defaults,
          headersTimeoutMs: 2000,
          requestTimeoutMs: 1000,
          pipeline: async () => textAnswer(200, ''),
          log: noLog,
        }),
      /headersTimeoutMs \(2000\) must not exceed requestTimeoutMs \(1000\)/,
    )
  })

  test('listen resolves with the bound address and rejects a port in use', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'))
    const other = createProxyServer({ ...defaults, pipeline: async () => textAnswer(200, ''), log: noLog })
    try {
      const address = proxy.proxy.server.address()
      assert.ok(address !== null && typeof address === 'object')
      assert.equal(address.port, proxy.port)
      await assert.rejects(other.listen('127.0.0.1', proxy.port), { code: 'EADDRINUSE' })
    } finally {
      await other.close(100)
      await proxy.close()
    }
  })
})
