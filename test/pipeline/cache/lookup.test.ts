import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cacheRequestOf, lookup, lookupHere } from '../../../src/pipeline/cache/lookup.ts'
import { defaultKeyPolicy, defaultPolicy } from '../../../src/router/route.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { cacheable, settled, testMachine, testOrigin } from './machine.ts'

describe('lookup step', () => {
  it("keys a request by its route's key rules, through the one key function", () => {
    const { m } = testMachine()
    const ctx = makeContext({ target: '/p?b=2&a=1' })
    ctx.facts.policy = { ...defaultPolicy, key: { ...defaultKeyPolicy, sortQuery: true } }
    assert.deepEqual(cacheRequestOf(m, ctx).keys, {
      key: 'http://shop.example/p?a=1&b=2',
      urlKey: 'http://shop.example/p?a=1&b=2',
    })
  })

  it("drops a client's refresh directives unless they count for it, keeping only-if-cached", () => {
    const ignoring = testMachine({ honoursRequestDirectives: () => false }).m
    const honouring = testMachine({ honoursRequestDirectives: () => true }).m
    const ctx = makeContext({ headers: { 'cache-control': 'no-cache, only-if-cached' } })
    assert.equal(cacheRequestOf(ignoring, ctx).directives.noCache, false)
    assert.equal(cacheRequestOf(ignoring, ctx).directives.onlyIfCached, true)
    assert.equal(cacheRequestOf(honouring, ctx).directives.noCache, true)
  })

  it('nothing stored: a miss goes to the origin and stores; then the response is found here, without I/O', async () => {
    const { m, store } = testMachine()
    const origin = testOrigin(() => cacheable('body'))
    const ctx = makeContext({ target: '/l' })
    const request = cacheRequestOf(m, ctx)
    assert.equal(lookupHere(m, ctx, request), undefined)
    const answer = await lookup(m, ctx, origin.next, request, undefined)
    assert.match(String(answer.headers['cache-status']), /fwd=uri-miss; fwd-status=200; ttl=60; stored/)
    await settled(() => store.stats().entries > 0)
    const here = lookupHere(m, makeContext({ target: '/l' }), request)
    assert.equal(here?.body.toString(), 'body')
    const hit = await lookup(m, makeContext({ target: '/l' }), origin.next, request, undefined)
    assert.equal(hit.headers['cache-status'], 'edgecache; hit; ttl=60')
    assert.equal(origin.seen.length, 1)
  })

  it('RFC 9111 §5.2.1.7: only-if-cached with nothing stored never goes to the origin', async () => {
    const { m } = testMachine()
    const origin = testOrigin(() => cacheable('never'))
    const ctx = makeContext({ target: '/none', headers: { 'cache-control': 'only-if-cached' } })
    const answer = await lookup(m, ctx, origin.next, cacheRequestOf(m, ctx), undefined)
    assert.equal(answer.status, 504)
    assert.equal(origin.seen.length, 0)
  })
})
