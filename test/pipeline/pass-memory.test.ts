import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createPassMemory } from '../../src/pipeline/pass-memory.ts'
import { createFakeClock } from '../support/clock.ts'

test('remembers a key for its time, then forgets it', () => {
  const clock = createFakeClock()
  const memory = createPassMemory(10, 1_000, clock)
  memory.remember('k')
  assert.equal(memory.has('k'), true)
  clock.advance(999)
  assert.equal(memory.has('k'), true)
  clock.advance(1)
  assert.equal(memory.has('k'), false)
})

test('forget drops a key at once; the oldest key goes past the bound', () => {
  const clock = createFakeClock()
  const memory = createPassMemory(2, 60_000, clock)
  memory.remember('a')
  memory.remember('b')
  memory.forget('a')
  assert.equal(memory.has('a'), false)
  memory.remember('c')
  memory.remember('d')
  assert.equal(memory.has('b'), false)
  assert.equal(memory.has('c'), true)
  assert.equal(memory.has('d'), true)
})
