import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCircuitBreaker } from '../../src/storage/circuit-breaker.ts'
import { createFakeClock } from '../support/clock.ts'

const fail = () => Promise.reject(new Error('redis down'))
const ok = () => Promise.resolve('ok')

test('opens after the failure threshold and then fails fast without calling', async () => {
  const clock = createFakeClock()
  const changes: string[] = []
  const breaker = createCircuitBreaker({
    failureThreshold: 3,
    cooldownMs: 1_000,
    clock,
    onStateChange: (s) => changes.push(s),
  })
  for (let i = 0; i < 3; i++) await assert.rejects(breaker.run(fail), /redis down/)
  assert.equal(breaker.state(), 'open')
  let called = false
  await assert.rejects(
    breaker.run(async () => {
      called = true
    }),
    (err: { code?: string }) => err.code === 'EC_ERR_STORAGE_UNAVAILABLE',
  )
  assert.equal(called, false)
  assert.equal(breaker.lastError(), 'redis down')
  assert.deepEqual(changes, ['open'])
})

test('half-opens after the cooldown, closes on a successful probe', async () => {
  const clock = createFakeClock()
  const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000, clock })
  await assert.rejects(breaker.run(fail))
  clock.advance(999)
  await assert.rejects(breaker.run(ok), (err: { code?: string }) => err.code === 'EC_ERR_STORAGE_UNAVAILABLE')
  clock.advance(1)
  assert.equal(await breaker.run(ok), 'ok')
  assert.equal(breaker.state(), 'closed')
})

test('a failed probe opens the circuit again for another cooldown', async () => {
  const clock = createFakeClock()
  const breaker = createCircuitBreaker({ failureThreshold: 2, cooldownMs: 500, clock })
  await assert.rejects(breaker.run(fail))
  await assert.rejects(breaker.run(fail))
  clock.advance(500)
  await assert.rejects(breaker.run(fail), /redis down/)
  assert.equal(breaker.state(), 'open')
  await assert.rejects(breaker.run(ok), (err: { code?: string }) => err.code === 'EC_ERR_STORAGE_UNAVAILABLE')
})

test('only one probe runs while half-open', async () => {
  const clock = createFakeClock()
  const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 10, clock })
  await assert.rejects(breaker.run(fail))
  clock.advance(10)
  let release: (v: string) => void = () => {}
  const probe = breaker.run(() => new Promise<string>((r) => (release = r)))
  await assert.rejects(breaker.run(ok), (err: { code?: string }) => err.code === 'EC_ERR_STORAGE_UNAVAILABLE')
  release('back')
  assert.equal(await probe, 'back')
  assert.equal(breaker.state(), 'closed')
})
