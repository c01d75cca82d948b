/**
 * The purge log on its own: what it remembers, what it forgets, and that the verdicts stay
 * right across its internal compaction and a clock that steps back. The store-level
 * behaviour is in the store contract and test/storage/memory-store.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { PurgeLog } from '../../src/storage/purge-log.ts'

const T0 = Date.UTC(2026, 0, 1)

describe('purge log', () => {
  test('an empty log stores everything, however old the fetch', () => {
    const log = new PurgeLog({ windowMs: 1_000, maxRecords: 10 })
    assert.deepEqual(log.verdict('k', ['t'], 0, T0), { kind: 'store' })
    assert.deepEqual(log.verdict('k', ['t'], Number.NaN, T0), { kind: 'store' })
  })

  test('does not log a selector that can reach nothing', () => {
    const log = new PurgeLog({ windowMs: 1_000, maxRecords: 10 })
    log.record(T0, {}, false)
    log.record(T0, { tags: [], prefixes: [], all: false }, true)
    assert.equal(log.size, 0)
  })

  test('matches by tag, key prefix or all, from the fetch time on', () => {
    const log = new PurgeLog({ windowMs: 60_000, maxRecords: 10 })
    log.record(T0 + 10, { tags: ['a'] }, true)
    log.record(T0 + 20, { prefixes: ['/p/'] }, false)
    assert.deepEqual(log.verdict('/q', ['a', 'b'], T0, T0 + 30), { kind: 'invalidate', at: T0 + 10 })
    assert.deepEqual(log.verdict('/p/1', [], T0, T0 + 30), { kind: 'refuse', reason: 'purged' })
    assert.deepEqual(log.verdict('/p/1', ['a'], T0 + 21, T0 + 30), { kind: 'store' })
    log.record(T0 + 40, { all: true }, true)
    assert.deepEqual(log.verdict('/q', [], T0 + 21, T0 + 50), { kind: 'invalidate', at: T0 + 40 })
  })

  test('keeps purge times non-decreasing when the clock steps back', () => {
    const log = new PurgeLog({ windowMs: 60_000, maxRecords: 10 })
    log.record(T0 + 100, { tags: ['a'] }, true)
    log.record(T0 + 50, { tags: ['b'] }, true)
    assert.deepEqual(log.verdict('k', ['b'], T0 + 80, T0 + 60), { kind: 'invalidate', at: T0 + 100 })
  })

  test('forgets by window and by count, and refuses fetches at or before what it forgot', () => {
    const log = new PurgeLog({ windowMs: 1_000, maxRecords: 3 })
    for (let i = 1; i <= 5; i++) log.record(T0 + i, { tags: [`t${i}`] }, false)
    assert.equal(log.size, 3)
    assert.deepEqual(log.verdict('k', ['x'], T0 + 2, T0 + 5), { kind: 'refuse', reason: 'forgotten' })
    assert.deepEqual(log.verdict('k', ['x'], T0 + 3, T0 + 5), { kind: 'store' })
    assert.deepEqual(log.verdict('k', ['x'], T0 + 3, T0 + 1_004), { kind: 'refuse', reason: 'forgotten' })
    assert.equal(log.size, 2, 'the purge at T0 + 3 left the window')
    assert.deepEqual(log.verdict('k', ['t5'], T0 + 5, T0 + 1_005), { kind: 'refuse', reason: 'purged' })
  })

  test('verdicts stay right while thousands of records come and go', () => {
    const log = new PurgeLog({ windowMs: 100, maxRecords: 1_000 })
    for (let i = 0; i < 20_000; i++) {
      const now = T0 + i
      log.record(now, { tags: [`t${i}`] }, i % 2 === 0)
      assert.ok(log.size <= 101, `size ${log.size} at ${i}`)
      if (i % 997 === 0) {
        const expect = i % 2 === 0 ? { kind: 'invalidate', at: now } : { kind: 'refuse', reason: 'purged' }
        assert.deepEqual(log.verdict('k', [`t${i}`], now - 50, now), expect)
        assert.deepEqual(log.verdict('k', [`t${i - 60}`], now - 50, now), { kind: 'store' })
        const forgotten = i > 100 ? { kind: 'refuse', reason: 'forgotten' } : { kind: 'store' }
        assert.deepEqual(log.verdict('k', ['x'], now - 101, now), forgotten)
      }
    }
  })
})
