import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { EdgecacheError } from '../../src/errors.ts'
import { textAnswer } from '../../src/pipeline/answer.ts'
import { compose, type Stage } from '../../src/pipeline/compose.ts'
import { createFacts, type RequestContext } from '../../src/pipeline/context.ts'

function context(): RequestContext {
  return {
    id: 'req-1',
    method: 'GET',
    scheme: 'http',
    host: 'example.test',
    target: '/',
    httpVersion: '1.1',
    headers: {},
    clientAddress: '127.0.0.1',
    body: undefined,
    receivedAt: 0,
    signal: new AbortController().signal,
    facts: createFacts(),
  }
}

const errors: object[] = []
const warnings: object[] = []
const log = { error: (obj: object) => void errors.push(obj), warn: (obj: object) => void warnings.push(obj) }

describe('compose', () => {
  test('runs stages in order until one answers', async () => {
    const seen: string[] = []
    const pass = (name: string): Stage => ({
      name,
      handle: (ctx, next) => {
        seen.push(name)
        return next(ctx)
      },
    })
    const answer: Stage = { name: 'answer', handle: async () => textAnswer(200, 'done') }
    const never: Stage = { name: 'never', handle: async () => assert.fail('not reached') }
    const result = await compose([pass('a'), pass('b'), answer, never], log)(context())
    assert.deepEqual(seen, ['a', 'b'])
    assert.equal(result.status, 200)
  })

  test('refuses a second next() with the same context', async () => {
    const twice: Stage = {
      name: 'twice',
      handle: async (ctx, next) => {
        await next(ctx)
        return next(ctx)
      },
    }
    const end: Stage = { name: 'end', handle: async () => textAnswer(200, 'ok') }
    const result = await compose([twice, end], log)(context())
    assert.equal(result.status, 500)
  })

  test('turns a catalogued error into its status with the request id and nothing internal', async () => {
    const failing: Stage = {
      name: 'failing',
      handle: async () => {
        throw new EdgecacheError('EC_ERR_UPSTREAM_TIMEOUT', [], { cause: new Error('connect 10.0.0.1:8080') })
      },
    }
    const before = errors.length
    const result = await compose([failing], log)(context())
    assert.equal(result.status, 504)
    const body = String(result.body)
    assert.match(body, /req-1/)
    assert.doesNotMatch(body, /10\.0\.0\.1/)
    assert.equal(result.headers['cache-control'], 'no-store')
    // A backend that times out is expected: a warning, not an error.
    assert.equal(errors.length, before)
    assert.equal(warnings.at(-1) !== undefined, true)
  })

  test('an unexpected error is a 500 that says only "internal error"', async () => {
    const failing: Stage = {
      name: 'failing',
      handle: async () => {
        throw new TypeError('secret detail')
      },
    }
    const before = errors.length
    const result = await compose([failing], log)(context())
    assert.equal(result.status, 500)
    assert.doesNotMatch(String(result.body), /secret/)
    assert.equal(errors.length, before + 1)
  })
})
