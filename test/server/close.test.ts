/**
 * Graceful shutdown of the public listener: no new connections, idle ones closed at once,
 * requests in flight allowed to finish, and whatever is left destroyed at the deadline.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { describe, test } from 'node:test'
import { textAnswer } from '../../src/pipeline/answer.ts'
import type { RequestContext } from '../../src/pipeline/context.ts'
import { createProxyServer } from '../../src/server/proxy-server.ts'
import { defaults, deferred, rawSocket, readUntil, readUntilClose, startProxy } from './harness.ts'

async function refused(port: number): Promise<string | undefined> {
  const socket = connect(port, '127.0.0.1')
  const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException]
  return err.code
}

describe('closing the proxy server', () => {
  test('lets a request in flight finish, refuses new connections, then resolves', async () => {
    const release = deferred()
    const arrived = deferred()
    const proxy = await startProxy(async () => {
      arrived.resolve()
      await release.promise
      return textAnswer(200, 'slow')
    })
    const socket = await rawSocket(proxy.port)
    const response = readUntilClose(socket)
    socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n')
    await arrived.promise

    let closed = false
    const closing = proxy.proxy.close(10_000).then(() => {
      closed = true
    })
    assert.equal(await refused(proxy.port), 'ECONNREFUSED')
    assert.equal(closed, false)

    release.resolve()
    const res = await response
    assert.equal(res.status, 200)
    assert.equal(res.body, 'slow\n')
    // The connection is not kept for another request once shutdown has begun.
    assert.equal(res.headers.connection, 'close')
    await closing
    assert.equal(closed, true)
  })

  test('closes idle keep-alive connections at once', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'), { keepAliveTimeoutMs: 60_000 })
    const socket = await rawSocket(proxy.port)
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    await readUntil(socket, 'ok\n')
    const socketClosed = once(socket, 'close')
    // The deadline is far off: only closing idle connections at once lets this resolve.
    await proxy.proxy.close(60_000)
    await socketClosed
  })

  test('destroys a request that outlives the deadline, aborting its signal', async () => {
    let ctx: RequestContext | undefined
    const arrived = deferred()
    const proxy = await startProxy(async (c) => {
      ctx = c
      arrived.resolve()
      await once(c.signal, 'abort')
      return textAnswer(200, 'never sent')
    })
    const socket = await rawSocket(proxy.port)
    const response = readUntilClose(socket)
    socket.write('GET /forever HTTP/1.1\r\nHost: a\r\n\r\n')
    await arrived.promise
    await proxy.proxy.close(150)
    const res = await response
    assert.equal(res.raw, '')
    assert.equal(ctx?.signal.aborted, true)
    assert.equal((await proxy.finish()).status, 499)
  })

  test('accounts for pipelined requests queued behind one the client abandons', async () => {
    const arrived = deferred()
    const proxy = await startProxy(async (ctx) => {
      if (ctx.target === '/first') arrived.resolve()
      await once(ctx.signal, 'abort')
      return textAnswer(200, 'never sent')
    })
    const socket = await rawSocket(proxy.port)
    socket.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n')
    await arrived.promise
    socket.destroy()
    const targets = [(await proxy.finish(1)).ctx.target, (await proxy.finish(2)).ctx.target].sort()
    assert.deepEqual(targets, ['/first', '/second'])
    assert.deepEqual(
      proxy.finished.map((f) => [f.status, f.ctx.signal.aborted]),
      [
        [499, true],
        [499, true],
      ],
    )
    // Nothing is left in flight: closing needs no deadline.
    await proxy.proxy.close(60_000)
  })

  test('returns the same promise when called again', async () => {
    const proxy = await startProxy(async () => textAnswer(200, 'ok'))
    const first = proxy.proxy.close(100)
    assert.equal(proxy.proxy.close(100), first)
    await first
  })

  test('resolves at once for a server that never listened', async () => {
    const proxy = createProxyServer({
      ...defaults,
      pipeline: async () => textAnswer(200, 'ok'),
      log: { error() {}, warn() {} },
    })
    await proxy.close(60_000)
  })
})
