import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCollapser, type FillEnd, type SharedFill } from '../../src/pipeline/collapser.ts'

test('the first caller leads; later callers wait until it releases and learn how it ended', async () => {
  const collapser = createCollapser()
  const release = collapser.lead('k')
  assert.ok(release)
  assert.equal(collapser.lead('k'), undefined)
  let followed: FillEnd | SharedFill | undefined
  const waiting = collapser.follow('k', 60_000).then((end) => {
    followed = end
  })
  await Promise.resolve()
  assert.equal(followed, undefined)
  assert.equal(collapser.waiting, 1)
  release({ result: 'stored' })
  await waiting
  assert.deepEqual(followed, { result: 'stored' })
  assert.equal(collapser.size, 0)
  assert.equal(collapser.waiting, 0)
  assert.ok(collapser.lead('k'), 'the key can be led again once released')
})

test('every follower gets the failure the leader had, the same error object', async () => {
  const collapser = createCollapser()
  const release = collapser.lead('k')!
  const error = new Error('backend did not answer in time')
  const followers = [collapser.follow('k', 60_000), collapser.follow('k', 60_000)]
  release({ result: 'timed-out', error })
  for (const end of await Promise.all(followers)) {
    assert.equal(end?.result, 'timed-out')
    assert.equal(end && 'error' in end ? end.error : undefined, error)
  }
})

test('following a key nobody fetches resolves at once, with nothing', async () => {
  assert.equal(await createCollapser().follow('absent', 60_000), undefined)
})

test('a follower stops waiting after its timeout, with nothing', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const collapser = createCollapser()
  collapser.lead('slow')
  let done = false
  let end: FillEnd | SharedFill | undefined = { result: 'stored' }
  const waiting = collapser.follow('slow', 1_000).then((e) => {
    done = true
    end = e
  })
  t.mock.timers.tick(999)
  await Promise.resolve()
  assert.equal(done, false)
  t.mock.timers.tick(1)
  await waiting
  assert.equal(done, true)
  assert.equal(end, undefined)
})

test('a shared fill wakes the waiters before it ends; those that cannot join wait for the end', async () => {
  const collapser = createCollapser()
  const release = collapser.lead('k')!
  const waiting = collapser.follow('k', 60_000)
  const shared: SharedFill = { result: 'streaming', join: () => undefined }
  release.share(shared)
  assert.equal(await waiting, shared)
  assert.equal(await collapser.follow('k', 60_000), shared, 'a later waiter gets the shared fill at once')
  const untilEnd = collapser.follow('k', 60_000, true)
  release({ result: 'stored' })
  assert.deepEqual(await untilEnd, { result: 'stored' })
})
