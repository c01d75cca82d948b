import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cacheRequestOf, lookup, lookupHere } from '../../../src/pipeline/cache/lookup.ts'
import { defaultKeyPolicy, defaultPolicy } from '../../../src/router/route.ts'
import { createMemoryStore } from '../../../src/storage/memory-store.ts'
import { createFakeClock } from '../../support/clock.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { cacheable, settled, testMachine, testOrigin } from './machine.ts'

/** A memory store whose peeks and gets are counted, saying whether its peek sees all. */
function countingStore(peekSeesAll: boolean, failPeek?: () => never) {
  const inner = createMemoryStore({ clock: createFakeClock() })
  const reads = { peek: 0, get: 0 }
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'peekSeesAll') return peekSeesAll
      if (prop === 'peek')
        return (key: string) => {
          reads.peek++
          failPeek?.()
          return target.peek(key)
        }
      if (prop === 'get')
        return (key: string) => {
          reads.get++
          return target.get(key)
        }
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, reads }
}

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
    const missed = lookupHere(m, ctx, request)
    assert.deepEqual(missed, { kind: 'miss', reason: 'uri-miss', marker: undefined })
    const answer = await lookup(m, ctx, origin.next, request, missed)
    assert.match(String(answer.headers['cache-status']), /fwd=uri-miss; fwd-status=200; ttl=60; stored/)
    await settled(() => store.stats().entries > 0)
    const here = lookupHere(m, makeContext({ target: '/l' }), request)
    assert.equal(here?.kind === 'found' && here.found.body.toString(), 'body')
    const hit = await lookup(m, makeContext({ target: '/l' }), origin.next, request, undefined)
    assert.equal(hit.headers['cache-status'], 'edgecache; hit; ttl=60')
    assert.equal(origin.seen.length, 1)
  })

  it('a miss reads a store whose peek sees all it holds once; any other store is asked again', async () => {
    for (const seesAll of [true, false]) {
      const { store, reads } = countingStore(seesAll)
      const { m } = testMachine({ store })
      const origin = testOrigin(() => cacheable('body'))
      const ctx = makeContext({ target: '/once' })
      const request = cacheRequestOf(m, ctx)
      const here = lookupHere(m, ctx, request)
      assert.equal(here?.kind, seesAll ? 'miss' : undefined)
      const answer = await lookup(m, ctx, origin.next, request, here)
      assert.match(String(answer.headers['cache-status']), /fwd=uri-miss/)
      assert.deepEqual(reads, { peek: 1, get: seesAll ? 0 : 1 }, `peekSeesAll ${seesAll}`)
    }
  })

  it('a peek that fails says nothing, so the lookup asks the store again', () => {
    const { store } = countingStore(true, () => {
      throw new Error('store gone')
    })
    const { m } = testMachine({ store })
    const ctx = makeContext({ target: '/failing' })
    assert.equal(lookupHere(m, ctx, cacheRequestOf(m, ctx)), undefined)
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
