import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { parseRequestDirectives } from '../../../src/cache/request-directives.ts'
import type { Answer } from '../../../src/pipeline/answer.ts'
import type { FillEnd } from '../../../src/pipeline/collapser.ts'
import { deliverFetched, fillRequest, makeFill } from '../../../src/pipeline/cache/deliver.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { cacheable, settled, testMachine } from './machine.ts'

const keys = { key: 'http://shop.example/d', urlKey: 'http://shop.example/d' }
const none = parseRequestDirectives(undefined, undefined)

function deliver(answer: Answer, method = 'GET') {
  const t = testMachine()
  const ends: FillEnd[] = []
  const ctx = makeContext({ method, target: '/d' })
  const fill = makeFill(ctx, keys, none, 'uri-miss', undefined, (end) => ends.push(end), undefined)
  const out = deliverFetched(t.m, fill, answer, t.clock.now(), t.clock.now())
  return { ...t, ctx, out, ends }
}

describe('deliver step', () => {
  it('the fill request is a full GET: conditional and range fields are not sent', () => {
    const ctx = makeContext({
      method: 'HEAD',
      headers: { range: 'bytes=0-1', 'if-none-match': '"x"', 'if-modified-since': 'x', accept: 'text/html' },
    })
    const request = fillRequest(ctx)
    assert.equal(request.method, 'GET')
    assert.deepEqual(request.headers, { accept: 'text/html' })
  })

  it('a storable answer is stored and passed on; waiters hear it was stored', async () => {
    const { store, out, ends, ctx } = deliver(cacheable('whole'))
    assert.match(String(out.headers['cache-status']), /fwd=uri-miss; fwd-status=200; ttl=60; stored/)
    assert.equal(ctx.facts.cache, 'miss')
    await settled(() => ends.length === 1)
    assert.deepEqual(ends, [{ result: 'stored' }])
    assert.equal(store.stats().entries, 1)
  })

  it('a streamed storable body is stored once it arrived whole, and streams to the client', async () => {
    const body = Readable.from([Buffer.from('str'), Buffer.from('eam')])
    const { store, out, ends } = deliver({ status: 200, headers: { 'cache-control': 'max-age=60' }, body })
    const chunks: Buffer[] = []
    for await (const chunk of out.body as Readable) chunks.push(chunk as Buffer)
    assert.equal(Buffer.concat(chunks).toString(), 'stream')
    await settled(() => ends.length === 1)
    assert.equal(store.stats().entries, 1)
  })

  it('an uncacheable answer passes, and the key is remembered as hit-for-miss', () => {
    const { m, out, ends, ctx } = deliver({ ...cacheable('mine'), headers: { 'cache-control': 'private' } })
    assert.match(String(out.headers['cache-status']), /fwd=uri-miss; fwd-status=200; detail=private/)
    assert.equal(ctx.facts.cache, 'pass')
    assert.deepEqual(ends, [{ result: 'uncacheable' }])
    assert.equal(m.passMemory.has(keys.key), true)
  })

  it('a 5xx the origin answered ends the fill as failed with its status, not as uncacheable', () => {
    const { m, ends } = deliver({ status: 503, headers: {}, body: Buffer.from('down') })
    assert.deepEqual(ends, [{ result: 'failed', status: 503 }])
    assert.equal(m.passMemory.has(keys.key), false)
  })

  it('a HEAD gets the header section only, while the whole body is still stored', async () => {
    const { store, out, ends } = deliver(cacheable('for later'), 'HEAD')
    assert.equal(out.body, undefined)
    await settled(() => ends.length === 1)
    assert.equal(store.stats().entries, 1)
  })

  it('a body larger than the object limit by its Content-Length passes as too large', () => {
    const { out } = deliver({
      status: 200,
      headers: { 'cache-control': 'max-age=60', 'content-length': String(2 * 1024 * 1024) },
      body: Readable.from([]),
    })
    assert.match(String(out.headers['cache-status']), /detail=too-large/)
  })
})
