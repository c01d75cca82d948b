/**
 * The invalidation event: published once per purge call, with an id of its own, so a sum
 * over workers' status reports can show each purge once.
 */
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'
import { events, type Invalidation } from '../../src/observability/events.ts'
import { observeInvalidations } from '../../src/surrogate/observed-invalidator.ts'
import { urlTag } from '../../src/surrogate/tags.ts'
import { createRecordingInvalidator } from '../admin/admin-harness.ts'
import { createFakeClock } from '../support/clock.ts'

test('each purge call is published once with a distinct id; a dry run is not published', async () => {
  const seen: Invalidation[] = []
  const listener = (message: unknown) => seen.push(message as Invalidation)
  subscribe(events.invalidation.name as string, listener)
  try {
    const clock = createFakeClock()
    const invalidator = observeInvalidations(createRecordingInvalidator(), clock)
    await invalidator.invalidate({ tags: ['a'], soft: false, dryRun: false, source: 'admin' })
    await invalidator.invalidate({ tags: ['a'], soft: false, dryRun: false, source: 'cli' })
    await invalidator.invalidate({ tags: ['a'], soft: false, dryRun: true, source: 'admin' })
    assert.equal(seen.length, 2)
    assert.match(seen[0]?.id ?? '', /^[0-9a-f-]{36}$/)
    assert.notEqual(seen[0]?.id, seen[1]?.id)
    assert.equal(seen[0]?.at, clock.now())
    assert.deepEqual(
      seen.map((s) => s.source),
      ['admin', 'cli'],
    )
  } finally {
    unsubscribe(events.invalidation.name as string, listener)
  }
})

test('an RFC 9111 §4.4 invalidation keeps its source and shows its URL, not the internal tag', async () => {
  const seen: Invalidation[] = []
  const listener = (message: unknown) => seen.push(message as Invalidation)
  subscribe(events.invalidation.name as string, listener)
  try {
    const invalidator = observeInvalidations(createRecordingInvalidator(), createFakeClock())
    await invalidator.invalidate({
      tags: [urlTag('https://shop.example/cart')],
      soft: false,
      dryRun: false,
      source: 'unsafe-method',
    })
    assert.deepEqual(
      seen.map((s) => [s.source, s.kinds, s.summary]),
      [['unsafe-method', ['url'], 'urls: https://shop.example/cart']],
    )
  } finally {
    unsubscribe(events.invalidation.name as string, listener)
  }
})
