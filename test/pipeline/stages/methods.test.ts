/** The methods stage on its own: what it refuses, with which status and Allow. */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { describe, test } from 'node:test'
import { textAnswer } from '../../../src/pipeline/answer.ts'
import { createMethodsStage } from '../../../src/pipeline/stages/methods.ts'
import { makeContext } from '../../upstream/make-context.ts'

const forwarded = async () => textAnswer(200, 'forwarded')

async function answer(methods: string[], method: string, body = false) {
  const stage = createMethodsStage({ methods: () => methods })
  const ctx = makeContext({ method, ...(body && { body: new PassThrough() }) })
  return stage.handle(ctx, forwarded)
}

describe('methods stage', () => {
  const cases: [string, string[], string, number, string | undefined][] = [
    ['GET with * is forwarded', ['*'], 'GET', 200, undefined],
    ['an unknown method with * is forwarded', ['*'], 'MKCALENDAR', 200, undefined],
    [
      'PURGE is never forwarded, even with *',
      ['*'],
      'PURGE',
      405,
      'GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE',
    ],
    ['PURGE is never forwarded, even when listed', ['GET', 'PURGE'], 'PURGE', 405, 'GET'],
    ['BAN is never forwarded', ['*'], 'BAN', 405, 'GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE'],
    ['TRACE is refused with *', ['*'], 'TRACE', 405, 'GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE'],
    ['TRACE is forwarded when named', ['*', 'TRACE'], 'TRACE', 200, undefined],
    ['a method outside the list is refused', ['GET', 'HEAD'], 'POST', 405, 'GET, HEAD'],
  ]
  for (const [name, methods, method, status, allow] of cases) {
    test(name, async () => {
      const reply = await answer(methods, method)
      assert.equal(reply.status, status)
      assert.equal(reply.headers.allow, allow)
    })
  }

  test('a GET or HEAD with a body is refused with 400', async () => {
    assert.equal((await answer(['*'], 'GET', true)).status, 400)
    assert.equal((await answer(['*'], 'HEAD', true)).status, 400)
    assert.equal((await answer(['*'], 'POST', true)).status, 200)
  })

  test('refusals are worded as every refusal is: status, reason, request id', async () => {
    assert.equal(
      String((await answer(['*'], 'TRACE')).body),
      '405 TRACE is not allowed here (request id req-1)\n',
    )
    assert.equal(
      String((await answer(['*'], 'GET', true)).body),
      '400 a GET request may not carry a body (request id req-1)\n',
    )
  })
})
