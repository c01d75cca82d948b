import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ServerHealth } from '../../src/upstream/server-health.ts'
import { createRetryBudget } from '../../src/upstream/retry-budget.ts'

const options = { unhealthyAfter: 2, healthyAfter: 3, failures: 3, ejectForMs: 10_000, maxEjectForMs: 30_000 }

describe('server health', () => {
  it('goes down after unhealthyAfter failed checks in a row, and up after healthyAfter passes', () => {
    const health = new ServerHealth(options)
    assert.equal(health.recordCheck(false, 0, 'ECONNREFUSED'), false)
    assert.equal(health.isAvailable(0), true)
    assert.equal(health.recordCheck(false, 1, 'ECONNREFUSED'), true)
    assert.equal(health.isAvailable(1), false)
    assert.equal(health.report(1).lastError, 'ECONNREFUSED')
    health.recordCheck(true, 2)
    health.recordCheck(true, 3)
    assert.equal(health.isAvailable(3), false)
    assert.equal(health.recordCheck(true, 4), true)
    assert.equal(health.isAvailable(4), true)
  })

  it('a pass between failures starts the count again', () => {
    const health = new ServerHealth(options)
    health.recordCheck(false, 0)
    health.recordCheck(true, 1)
    health.recordCheck(false, 2)
    assert.equal(health.isAvailable(2), true)
  })

  it('ejects after failures in a row, for twice as long each time in a row, up to the cap', () => {
    const health = new ServerHealth(options)
    health.recordRequest(false, 0)
    health.recordRequest(false, 0)
    assert.equal(health.recordRequest(false, 0), true)
    assert.equal(health.isAvailable(9_999), false)
    assert.equal(health.isAvailable(10_000), true)
    // On probation: one failure ejects again, for 20 s, then 30 s (the cap).
    assert.equal(health.recordRequest(false, 10_000), true)
    assert.equal(health.isAvailable(29_999), false)
    assert.equal(health.isAvailable(30_000), true)
    assert.equal(health.recordRequest(false, 30_000), true)
    assert.equal(health.report(30_000).ejectedUntil, 60_000)
    assert.equal(health.report(30_000).ejections, 3)
  })

  it('an answer ends the ejection streak', () => {
    const health = new ServerHealth(options)
    for (let i = 0; i < 3; i++) health.recordRequest(false, 0)
    health.recordRequest(true, 10_000)
    assert.equal(health.recordRequest(false, 10_001), false)
    assert.equal(health.isAvailable(10_001), true)
  })

  it('failures: 0 never ejects', () => {
    const health = new ServerHealth({ ...options, failures: 0 })
    for (let i = 0; i < 10; i++) assert.equal(health.recordRequest(false, i), false)
    assert.equal(health.isAvailable(10), true)
  })
})

describe('retry budget', () => {
  it('allows retries up to the ratio of recent requests, plus the per-second floor', () => {
    const budget = createRetryBudget(0.2, 1)
    for (let i = 0; i < 100; i++) budget.request(1_000)
    let retries = 0
    while (budget.tryRetry(1_000)) retries++
    assert.equal(retries, 20)
    // A new second: the floor allows one more, the ratio none.
    assert.equal(budget.tryRetry(2_000), true)
    assert.equal(budget.tryRetry(2_000), false)
  })

  it('forgets requests older than ten seconds', () => {
    const budget = createRetryBudget(0.5, 0)
    for (let i = 0; i < 10; i++) budget.request(0)
    assert.equal(budget.tryRetry(9_999), true)
    assert.equal(budget.tryRetry(20_000), false)
  })
})
