import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decide } from '../../../src/cache/freshness.ts'
import { parseRequestDirectives } from '../../../src/cache/request-directives.ts'
import { collapsedHit, hit, staleOnError, type UsableVerdict } from '../../../src/pipeline/cache/hit.ts'
import { cacheRequestOf, lookup } from '../../../src/pipeline/cache/lookup.ts'
import { makeContext } from '../../upstream/make-context.ts'
import type { CacheStageDeps } from '../../../src/pipeline/cache/machine.ts'
import { cacheable, settled, testMachine, testOrigin } from './machine.ts'

/** A machine holding one response for /h, stored at the fake clock's start. */
async function holding(headers: Record<string, string>, deps: Partial<CacheStageDeps> = {}) {
  const t = testMachine(deps)
  const origin = testOrigin(() => cacheable('stored body', headers))
  const ctx = makeContext({ target: '/h' })
  const request = cacheRequestOf(t.m, ctx)
  await lookup(t.m, ctx, origin.next, request, undefined)
  await settled(() => t.store.stats().entries > 0)
  const found = await t.m.entries.lookup(request.keys.key, {})
  assert.equal(found.kind, 'found')
  return { ...t, origin, request, found: found.kind === 'found' ? found.found : undefined! }
}

const none = parseRequestDirectives(undefined, undefined)

describe('hit step', () => {
  it('a fresh stored response is answered with its Age, and no origin request', async () => {
    const { m, clock, origin, request, found } = await holding({})
    clock.advance(10_000)
    const verdict = decide(found.response, none, clock.now()) as UsableVerdict
    const answer = hit(m, makeContext({ target: '/h' }), origin.next, request.keys, found, verdict)
    assert.equal(answer.headers['cache-status'], 'edgecache; hit; ttl=50')
    assert.equal(answer.headers.age, '10')
    assert.equal(String(answer.body), 'stored body')
    assert.equal(origin.seen.length, 1)
  })

  it('RFC 5861 §3: a stale response within stale-while-revalidate is answered, and refreshed once in the background', async () => {
    const { m, clock, origin, request, found } = await holding({
      'cache-control': 'max-age=60, stale-while-revalidate=600',
    })
    clock.advance(120_000)
    const verdict = decide(found.response, none, clock.now()) as UsableVerdict
    assert.equal(verdict.kind, 'stale-while-revalidate')
    for (let i = 0; i < 2; i++) {
      const answer = hit(m, makeContext({ target: '/h' }), origin.next, request.keys, found, verdict)
      assert.match(String(answer.headers['cache-status']), /hit; ttl=-60; detail=stale-while-revalidate/)
    }
    await settled(() => m.refreshing.size === 0)
    assert.equal(origin.seen.length, 2, 'one background refresh for two stale hits')
  })

  it('RFC 5861 §3: a response that arrived stale is refreshed at most once per cache.refreshInterval', async () => {
    const arrivesStale = { 'cache-control': 'max-age=1, stale-while-revalidate=86400', age: '2' }
    for (const [intervalMs, expected] of [
      [1_000, [0, 0, 1]],
      [0, [1, 2, 3]],
    ] as const) {
      const { m, clock, origin, request, found } = await holding(arrivesStale, {
        refreshIntervalMs: intervalMs,
      })
      const refreshes: number[] = []
      for (const advanceMs of [0, 999, 1]) {
        clock.advance(advanceMs)
        const verdict = decide(found.response, none, clock.now()) as UsableVerdict
        assert.equal(verdict.kind, 'stale-while-revalidate')
        hit(m, makeContext({ target: '/h' }), origin.next, request.keys, found, verdict)
        await settled(() => m.refreshing.size === 0)
        refreshes.push(origin.seen.length - 1)
      }
      assert.deepEqual(refreshes, expected, `refreshes after each stale answer, interval ${intervalMs} ms`)
    }
  })

  it('a collapsed request is answered from what the fill stored, only while it is fresh', async () => {
    const { m, clock, found } = await holding({})
    const ctx = makeContext({ target: '/h' })
    const answer = collapsedHit(m, ctx, { kind: 'found', found }, none, 'uri-miss')
    assert.equal(
      answer?.headers['cache-status'],
      'edgecache; fwd=uri-miss; fwd-status=200; ttl=60; collapsed',
    )
    assert.equal(ctx.facts.collapsed, true)
    clock.advance(61_000)
    assert.equal(collapsedHit(m, makeContext(), { kind: 'found', found }, none, 'uri-miss'), undefined)
  })

  it('RFC 5861 §4: a stale response stands in for a failed origin, saying so', async () => {
    const { m, clock, found } = await holding({})
    clock.advance(70_000)
    const answer = staleOnError(m, makeContext({ target: '/h' }), found, 503)
    assert.equal(
      answer.headers['cache-status'],
      'edgecache; fwd=stale; fwd-status=503; ttl=-10; detail=stale-if-error',
    )
    assert.equal(answer.headers.age, '70')
  })
})
