import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bypass, otherMethod } from '../../../src/pipeline/cache/pass.ts'
import { defaultPolicy } from '../../../src/router/route.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { cacheable, settled, testMachine, testOrigin } from './machine.ts'
import { lookup, cacheRequestOf } from '../../../src/pipeline/cache/lookup.ts'

describe('pass step', () => {
  it('a route that bypasses the cache goes upstream as it is and stores nothing', async () => {
    const { m, store } = testMachine()
    const origin = testOrigin(() => cacheable('fresh', { 'cdn-cache-control': 'max-age=5' }))
    const ctx = makeContext()
    ctx.facts.policy = { ...defaultPolicy, bypass: true }
    const answer = await bypass(m, ctx, origin.next)
    assert.equal(answer.headers['cache-status'], 'edgecache; fwd=bypass; fwd-status=200; detail=route-policy')
    assert.equal(
      answer.headers['cdn-cache-control'],
      undefined,
      'the targeted field this cache consumes is removed',
    )
    assert.equal(store.stats().entries, 0)
  })

  it('RFC 9111 §4.4: a successful POST removes the URL under the key its GET was stored by', async () => {
    // The route sorts the query: the GET stored /p?a=1&b=2, the POST names /p?b=2&a=1.
    const { m, store } = testMachine({
      urlKeyOf: (scheme, host, target) => `${scheme}://${host}${target.replace('b=2&a=1', 'a=1&b=2')}`,
    })
    const get = testOrigin(() => cacheable('page'))
    const stored = makeContext({ target: '/p?a=1&b=2' })
    await lookup(m, stored, get.next, cacheRequestOf(m, stored), undefined)
    await settled(() => store.stats().entries > 0)
    const post = testOrigin(() => ({ status: 204, headers: {}, body: undefined }))
    const answer = await otherMethod(m, makeContext({ method: 'POST', target: '/p?b=2&a=1' }), post.next)
    assert.equal(answer.headers['cache-status'], 'edgecache; fwd=method; fwd-status=204')
    const again = await m.entries.lookup('http://shop.example/p?a=1&b=2', {})
    assert.equal(again.kind, 'miss')
  })

  it('an error answer to an unsafe method invalidates nothing; a safe method passes without invalidating', async () => {
    const { m, store } = testMachine()
    const get = testOrigin(() => cacheable('page'))
    const ctx = makeContext({ target: '/kept' })
    await lookup(m, ctx, get.next, cacheRequestOf(m, ctx), undefined)
    await settled(() => store.stats().entries > 0)
    await otherMethod(
      m,
      makeContext({ method: 'POST', target: '/kept' }),
      testOrigin(() => ({ status: 500, headers: {}, body: undefined })).next,
    )
    const options = await otherMethod(
      m,
      makeContext({ method: 'OPTIONS', target: '/kept' }),
      testOrigin(() => ({ status: 200, headers: {}, body: undefined })).next,
    )
    assert.equal(options.headers['cache-status'], 'edgecache; fwd=method; fwd-status=200')
    assert.equal((await m.entries.lookup('http://shop.example/kept', {})).kind, 'found')
  })
})
