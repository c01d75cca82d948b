import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { collapsedFailure, onlyIfCached } from '../../../src/pipeline/cache/synth.ts'
import { makeContext } from '../../upstream/make-context.ts'
import { testMachine } from './machine.ts'

describe('synth step', () => {
  it('RFC 9111 §5.2.1.7: only-if-cached with nothing usable is a 504 that says so', () => {
    const ctx = makeContext()
    const answer = onlyIfCached(ctx, 'edgecache; fwd=uri-miss; detail=only-if-cached')
    assert.equal(answer.status, 504)
    assert.equal(answer.headers['cache-status'], 'edgecache; fwd=uri-miss; detail=only-if-cached')
    assert.match(String(answer.body), /only-if-cached \(request id req-1\)/)
    assert.equal(ctx.facts.cache, 'miss')
  })

  it('a fill the origin answered 5xx is told to its waiters with the status, not the body', () => {
    const { m } = testMachine()
    const ctx = makeContext()
    const answer = collapsedFailure(m, ctx, { result: 'failed', status: 503 }, 'uri-miss')
    assert.equal(answer.status, 503)
    assert.equal(answer.headers['cache-status'], 'edgecache; fwd=uri-miss; fwd-status=503; collapsed')
    assert.equal(ctx.facts.collapsed, true)
  })

  it('a fill that threw makes its waiters throw the same error, for the error boundary', () => {
    const { m } = testMachine()
    const ctx = makeContext()
    const error = new Error('backend did not answer in time')
    assert.throws(() => collapsedFailure(m, ctx, { result: 'timed-out', error }, 'uri-miss'), error)
    assert.equal(ctx.facts.cacheStatus, 'edgecache; fwd=uri-miss; collapsed; detail=upstream-error')
  })
})
