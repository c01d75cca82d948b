/**
 * The invalidation event: published once per purge call, with an id of its own, so a sum
 * over workers' status reports can show each purge once.
 */
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { events, type Invalidation } from '../../src/observability/events.ts'
import { observeInvalidations } from '../../src/surrogate/observed-invalidator.ts'
import { createRecordingInvalidator } from '../admin/admin-harness.ts'
import { createFakeClock } from '../support/clock.ts'

test('each purge call is published once with a distinct id; a dry run is not published', async () => {
  const seen: Invalidation[] = []
  const listener = (message: unknown) => seen.push(message as Invalidation)
  subscribe(events.invalidation.name as string, listener)
  try {
    const clock = createFakeClock()
    const invalidator = observeInvalidations(createRecordingInvalidator(), clock)
    await invalidator.invalidate({ tags: ['a'], soft: false, dryRun: false })
    await invalidator.invalidate({ tags: ['a'], soft: false, dryRun: false })
    await invalidator.invalidate({ tags: ['a'], soft: false, dryRun: true })
    assert.equal(seen.length, 2)
    assert.match(seen[0]?.id ?? '', /^[0-9a-f-]{36}$/)
    assert.notEqual(seen[0]?.id, seen[1]?.id)
    assert.equal(seen[0]?.at, clock.now())
  } finally {
    unsubscribe(events.invalidation.name as string, listener)
  }
})
