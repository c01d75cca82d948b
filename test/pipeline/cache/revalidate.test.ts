import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decide } from '../../../src/cache/freshness.ts'
import { parseRequestDirectives } from '../../../src/cache/request-directives.ts'
import type { Answer } from '../../../src/pipeline/answer.ts'
import { cacheRequestOf, lookup } from '../../../src/pipeline/cache/lookup.ts'
import { type RevalidateVerdict, revalidate } from '../../../src/pipeline/cache/revalidate.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { cacheable, settled, testMachine, testOrigin } from './machine.ts'

const none = parseRequestDirectives(undefined, undefined)

/** A machine holding a stale response for /r with an ETag, and an origin that answers `answer`. */
async function staleEntry(answer: () => Answer | Promise<Answer>, cacheControl = 'max-age=60') {
  const t = testMachine()
  const first = testOrigin(() => cacheable('v1', { etag: '"v1"', 'cache-control': cacheControl }))
  const ctx = makeContext({ target: '/r' })
  const request = cacheRequestOf(t.m, ctx)
  await lookup(t.m, ctx, first.next, request, undefined)
  await settled(() => t.store.stats().entries > 0)
  t.clock.advance(120_000)
  const found = await t.m.entries.lookup(request.keys.key, {})
  assert.equal(found.kind, 'found')
  const stored = found.kind === 'found' ? found.found : undefined!
  const verdict = decide(stored.response, none, t.clock.now()) as RevalidateVerdict
  assert.equal(verdict.kind, 'revalidate')
  const origin = testOrigin(answer)
  const run = () =>
    revalidate(t.m, makeContext({ target: '/r' }), origin.next, request.keys, stored, verdict, none)
  return { ...t, origin, run }
}

describe('revalidate step', () => {
  it('RFC 9111 §4.3.4: a 304 refreshes the stored response and answers from it', async () => {
    const { origin, run } = await staleEntry(() => ({
      status: 304,
      headers: { 'cache-control': 'max-age=60', etag: '"v1"' },
      body: undefined,
    }))
    const answer = await run()
    assert.equal(origin.seen[0]!.headers['if-none-match'], '"v1"', 'sent as a conditional request')
    assert.match(String(answer.headers['cache-status']), /fwd=stale; fwd-status=304; ttl=60; stored/)
    assert.equal(String(answer.body), 'v1')
  })

  it("a 304's Set-Cookie goes to the client that asked, never into the stored copy", async () => {
    const { m, store, clock, run } = await staleEntry(() => ({
      status: 304,
      headers: { 'cache-control': 'max-age=60', etag: '"v1"', 'set-cookie': 'session=alice' },
      body: undefined,
    }))
    const asked = await run()
    assert.equal(asked.headers['set-cookie'], 'session=alice')
    assert.match(String(asked.headers['cache-status']), /fwd-status=304; ttl=60; stored/)
    await settled(() => store.stats().entries > 0)
    clock.advance(1_000)
    const next = makeContext({ target: '/r' })
    const later = await lookup(
      m,
      next,
      testOrigin(() => cacheable('v2')).next,
      cacheRequestOf(m, next),
      undefined,
    )
    assert.match(String(later.headers['cache-status']), /hit/)
    assert.equal(later.headers['set-cookie'], undefined, 'another client is not handed the cookie')
  })

  it('RFC 9111 §3: a 304 that makes the response private is answered once and the stored copy dropped', async () => {
    const { m, run } = await staleEntry(() => ({
      status: 304,
      headers: { 'cache-control': 'private, max-age=60', etag: '"v1"' },
      body: undefined,
    }))
    const answer = await run()
    assert.equal(String(answer.body), 'v1')
    assert.match(String(answer.headers['cache-status']), /fwd=stale; fwd-status=304; detail=private/)
    const next = makeContext({ target: '/r' })
    const origin = testOrigin(() => cacheable('v2'))
    const later = await lookup(m, next, origin.next, cacheRequestOf(m, next), undefined)
    assert.equal(origin.seen.length, 1, 'the next request goes to the origin')
    assert.equal(String(later.body), 'v2')
  })

  it('a 5xx that may not be stored leaves the stored response for stale-if-error and the grace', async () => {
    const { store, run } = await staleEntry(() => ({
      status: 500,
      headers: { 'cache-control': 'no-store' },
      body: undefined,
    }))
    const answer = await run()
    assert.equal(answer.status, 500)
    // The delete a 200 gets is issued before the answer returns (the next test).
    assert.equal(store.stats().entries, 1, 'the stale copy is still stored')
  })

  it('a 200 that may not be stored removes the stored response', async () => {
    const { store, run } = await staleEntry(() => cacheable('v2', { 'cache-control': 'no-store' }))
    const answer = await run()
    assert.equal(String(answer.body), 'v2')
    assert.equal(store.stats().entries, 0)
  })

  it('a 200 replaces the stored response', async () => {
    const { run } = await staleEntry(() => cacheable('v2', { etag: '"v2"' }))
    const answer = await run()
    assert.equal(String(answer.body), 'v2')
    assert.match(String(answer.headers['cache-status']), /fwd=stale; fwd-status=200; ttl=60; stored/)
  })

  it('RFC 5861 §4: with stale-if-error, a failed revalidation answers the stale response', async () => {
    const { run } = await staleEntry(
      () => ({ status: 502, headers: {}, body: undefined }),
      'max-age=60, stale-if-error=600',
    )
    const answer = await run()
    assert.equal(String(answer.body), 'v1')
    assert.match(String(answer.headers['cache-status']), /fwd=stale; fwd-status=502; .*detail=stale-if-error/)
  })

  it('concurrent revalidations of one stored response send one conditional request', async () => {
    let open!: () => void
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const { m, origin, run } = await staleEntry(async () => {
      await gate
      return { status: 304, headers: { 'cache-control': 'max-age=60', etag: '"v1"' }, body: undefined }
    })
    const answers = Promise.all([run(), run(), run()])
    await settled(() => m.collapser.waiting === 2)
    open()
    for (const answer of await answers) assert.equal(String(answer.body), 'v1')
    assert.equal(origin.seen.length, 1)
  })
})
