/**
 * Request ids on the public listener: the client's `X-Request-Id` when well-formed, a made
 * one otherwise, returned as `x-request-id` on every response.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { textAnswer } from '../../src/pipeline/answer.ts'
import { nextRequestId, requestIdOf } from '../../src/server/request-id.ts'
import { type Harness, startProxy } from './harness.ts'

const madeId = /^[0-9a-f]{12}-[0-9a-z]+$/

describe('request ids', () => {
  let proxy: Harness
  const ids: string[] = []

  before(async () => {
    proxy = await startProxy(async (ctx) => {
      ids.push(ctx.id)
      return textAnswer(200, 'ok')
    })
  })
  after(() => proxy.close())

  async function idFor(sent?: string | string[]): Promise<{ returned: unknown; seen: string | undefined }> {
    const res = await proxy.request('/', sent === undefined ? {} : { headers: { 'x-request-id': sent } })
    await res.body.dump()
    return { returned: res.headers['x-request-id'], seen: ids.at(-1) }
  }

  for (const id of ['abc-123', 'A.b_c:d-e', 'x', 'z'.repeat(128)]) {
    test(`keeps the well-formed id ${id.length > 20 ? `of ${id.length} characters` : id}`, async () => {
      const { returned, seen } = await idFor(id)
      assert.equal(seen, id)
      assert.equal(returned, id)
    })
  }

  for (const [name, id] of [
    ['that is too long', 'z'.repeat(129)],
    ['with a space', 'abc def'],
    ['with a slash', 'a/b'],
    ['with a quote', 'a"b'],
    ['that is empty', ''],
  ] as const) {
    test(`replaces an id ${name}`, async () => {
      const { returned, seen } = await idFor(id)
      assert.match(seen ?? '', madeId)
      assert.equal(returned, seen)
    })
  }

  test('replaces repeated X-Request-Id fields', async () => {
    const { returned, seen } = await idFor(['one', 'two'])
    assert.match(seen ?? '', madeId)
    assert.equal(returned, seen)
  })

  test('makes a different id for each request without one', async () => {
    const first = await idFor()
    const second = await idFor()
    assert.match(first.seen ?? '', madeId)
    assert.notEqual(first.seen, second.seen)
    assert.equal(first.returned, first.seen)
  })

  test('puts the id on answers whose headers already name one', async () => {
    const echo = await startProxy(async () => textAnswer(200, 'ok', { 'x-request-id': 'from-upstream' }))
    try {
      const res = await echo.request('/', { headers: { 'x-request-id': 'from-client' } })
      await res.body.dump()
      assert.equal(res.headers['x-request-id'], 'from-client')
    } finally {
      await echo.close()
    }
  })
})

describe('requestIdOf', () => {
  test('keeps what is well-formed and replaces the rest', () => {
    assert.equal(requestIdOf('req-1'), 'req-1')
    assert.match(requestIdOf(undefined), madeId)
    assert.match(requestIdOf(['a', 'b']), madeId)
    assert.match(requestIdOf('a\u00e9'), madeId)
  })

  test('made ids share a prefix and count up', () => {
    const [prefix1, n1] = nextRequestId().split('-')
    const [prefix2, n2] = nextRequestId().split('-')
    assert.equal(prefix1, prefix2)
    assert.equal(Number.parseInt(n2!, 36), Number.parseInt(n1!, 36) + 1)
  })
})
