import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EdgecacheError } from '../../../src/errors.ts'
import type { Answer } from '../../../src/pipeline/answer.ts'
import { cacheRequestOf } from '../../../src/pipeline/cache/lookup.ts'
import { failureOf, miss } from '../../../src/pipeline/cache/miss.ts'
import type { SharedClaim } from '../../../src/pipeline/shared-collapser.ts'
import type { RequestContext } from '../../../src/pipeline/context.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { cacheable, settled, testMachine, testOrigin } from './machine.ts'

const missed = { kind: 'miss', reason: 'uri-miss', marker: undefined } as const

/** An origin whose answers wait until the test lets them go. */
function heldOrigin(answer: () => Answer | Promise<Answer>) {
  let open!: () => void
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const origin = testOrigin(async () => {
    await gate
    return answer()
  })
  return { ...origin, open }
}

function missFor(
  m: ReturnType<typeof testMachine>['m'],
  next: (ctx: RequestContext) => Promise<Answer>,
  ctx = makeContext({ target: '/m' }),
) {
  const { keys, directives } = cacheRequestOf(m, ctx)
  return miss(m, ctx, next, keys, directives, missed)
}

describe('miss step', () => {
  it('concurrent misses for one key make one origin request; the others are collapsed hits', async () => {
    const { m } = testMachine()
    const origin = heldOrigin(() => cacheable('once'))
    const answers = Promise.all([missFor(m, origin.next), missFor(m, origin.next), missFor(m, origin.next)])
    await settled(() => m.collapser.waiting === 2)
    origin.open()
    const [first, ...others] = await answers
    assert.match(String(first!.headers['cache-status']), /fwd=uri-miss; fwd-status=200; ttl=60; stored/)
    for (const other of others) assert.match(String(other.headers['cache-status']), /collapsed/)
    assert.equal(origin.seen.length, 1)
  })

  it('a fill the origin fails hands its error to every waiter at once', async () => {
    const { m } = testMachine()
    const error = new EdgecacheError('EC_ERR_UPSTREAM_TIMEOUT')
    const origin = heldOrigin(() => {
      throw error
    })
    const answers = [missFor(m, origin.next), missFor(m, origin.next)].map((p) =>
      p.catch((err: unknown) => err),
    )
    await settled(() => m.collapser.waiting === 1)
    origin.open()
    assert.deepEqual(await Promise.all(answers), [error, error])
    assert.equal(origin.seen.length, 1)
  })

  it('a key lately answered uncacheable goes upstream at once, uncollapsed', async () => {
    const { m } = testMachine()
    m.passMemory.remember('http://shop.example/m')
    const origin = heldOrigin(() => ({ ...cacheable('private'), headers: { 'cache-control': 'private' } }))
    const answers = Promise.all([missFor(m, origin.next), missFor(m, origin.next)])
    await settled(() => origin.seen.length === 2)
    assert.equal(m.collapser.waiting, 0)
    origin.open()
    await answers
  })

  it('the fill request outlives its client once the origin answered', async () => {
    const { m } = testMachine()
    const client = new AbortController()
    const origin = testOrigin(() => cacheable('kept'))
    await missFor(m, origin.next, makeContext({ target: '/m', signal: client.signal }))
    client.abort()
    assert.equal(origin.seen[0]!.signal.aborted, false)
  })

  it("the fill request follows its client's abort until the origin answers", async () => {
    const { m } = testMachine()
    const client = new AbortController()
    const origin = heldOrigin(() => cacheable('late'))
    const answer = missFor(m, origin.next, makeContext({ target: '/m', signal: client.signal }))
    await settled(() => origin.seen.length === 1)
    client.abort()
    assert.equal(origin.seen[0]!.signal.aborted, true)
    origin.open()
    await answer
  })

  it('how a failed fill ended: its client left, the origin timed out, or the origin failed', () => {
    const gone = new AbortController()
    gone.abort()
    assert.deepEqual(failureOf(makeContext({ signal: gone.signal }), new Error('x')), { result: 'abandoned' })
    const timeout = new EdgecacheError('EC_ERR_UPSTREAM_TIMEOUT')
    assert.deepEqual(failureOf(makeContext(), timeout), { result: 'timed-out', error: timeout })
    const reset = new EdgecacheError('EC_ERR_UPSTREAM_RESET')
    assert.deepEqual(failureOf(makeContext(), reset), { result: 'failed', error: reset })
  })
})

describe('miss step, with a fill another process led', () => {
  /** A machine whose other processes' fills ended as `claim` says. */
  function followingMachine(claim: SharedClaim) {
    const t = testMachine()
    const m = { ...t.m, sharedCollapser: { claim: async () => claim, waiting: 0 } }
    return { m }
  }

  it("a fill another worker's origin answered 503 is a 503 here too, at once, without the origin", async () => {
    const { m } = followingMachine({ kind: 'followed', outcome: 'failed', status: 503 })
    const origin = testOrigin(() => cacheable('never asked'))
    const ctx = makeContext({ target: '/m' })
    const answer = await missFor(m, origin.next, ctx)
    assert.equal(answer.status, 503)
    assert.match(String(answer.headers['cache-status']), /fwd-status=503; collapsed/)
    assert.equal(origin.seen.length, 0)
  })

  it('one whose status was not told is a 502, collapsed', async () => {
    const { m } = followingMachine({ kind: 'followed', outcome: 'failed' })
    const origin = testOrigin(() => cacheable('never asked'))
    const ctx = makeContext({ target: '/m' })
    await assert.rejects(missFor(m, origin.next, ctx), (err) => (err as EdgecacheError).status === 502)
    assert.equal(ctx.facts.collapsed, true)
    assert.match(String(ctx.facts.cacheStatus), /collapsed; detail=upstream-error/)
    assert.equal(origin.seen.length, 0)
  })
})
