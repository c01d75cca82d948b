import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCollapser } from '../../src/pipeline/collapser.ts'

test('the first caller leads; later callers wait until it releases', async () => {
  const collapser = createCollapser()
  const release = collapser.lead('k')
  assert.ok(release)
  assert.equal(collapser.lead('k'), undefined)
  let followed = false
  const waiting = collapser.follow('k', 60_000).then(() => {
    followed = true
  })
  await Promise.resolve()
  assert.equal(followed, false)
  assert.equal(collapser.waiting, 1)
  release()
  await waiting
  assert.equal(followed, true)
  assert.equal(collapser.size, 0)
  assert.equal(collapser.waiting, 0)
  assert.ok(collapser.lead('k'), 'the key can be led again once released')
})

test('following a key nobody fetches resolves at once', async () => {
  await createCollapser().follow('absent', 60_000)
})

test('a follower stops waiting after its timeout', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const collapser = createCollapser()
  collapser.lead('slow')
  let done = false
  const waiting = collapser.follow('slow', 1_000).then(() => {
    done = true
  })
  t.mock.timers.tick(999)
  await Promise.resolve()
  assert.equal(done, false)
  t.mock.timers.tick(1)
  await waiting
  assert.equal(done, true)
})
