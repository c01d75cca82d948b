/**
 * The charts' history (src/admin/status-history.ts): a ring of per-interval samples fed
 * with explicit times, what a report lists, how several workers' histories add up, and
 * the rates, ratios and percentiles read from them. Exact figures, no clock.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { binOf } from '../../src/admin/latency-histogram.ts'
import {
  createHistory,
  type HistoryReport,
  historySnapshot,
  mergeHistories,
} from '../../src/admin/status-history.ts'

/** A fixed wall-clock hour start, so interval boundaries are round numbers. */
const T0 = 1_800_000_000_000
const fast = binOf(2)
const slow = binOf(400)

describe('status history', () => {
  test('counts each request in the interval of the wall clock it finished in, oldest first', () => {
    const history = createHistory({ intervalSeconds: 10, intervals: 6, startedAt: T0 })
    history.record(T0 + 1_000, true, true, fast)
    history.record(T0 + 9_999, true, false, fast)
    history.record(T0 + 10_000, false, false, slow)
    // 20–30 s: nothing; 30–40 s: one.
    history.record(T0 + 35_000, true, true, fast)
    const report = history.report(T0 + 37_000)
    assert.equal(report.intervalSeconds, 10)
    assert.equal(report.seconds, 60)
    assert.deepEqual(report.samples, [
      { at: T0, seconds: 10, requests: 2, lookups: 2, hits: 1, latency: [[fast, 2]] },
      { at: T0 + 10_000, seconds: 10, requests: 1, lookups: 0, hits: 0, latency: [[slow, 1]] },
      // The current interval covers the 7 s gone so far.
      { at: T0 + 30_000, seconds: 7, requests: 1, lookups: 1, hits: 1, latency: [[fast, 1]] },
    ])
  })

  test('the interval the process started in covers only the time since the start', () => {
    const history = createHistory({ intervalSeconds: 10, intervals: 6, startedAt: T0 + 4_000 })
    history.record(T0 + 5_000, true, true, fast)
    assert.equal(history.report(T0 + 20_000).samples[0]?.seconds, 6)
  })

  test('forgets what is older than the history; a slot reused a lap later starts from zero', () => {
    const history = createHistory({ intervalSeconds: 10, intervals: 6, startedAt: T0 })
    history.record(T0, true, true, fast)
    history.record(T0 + 20_000, true, true, fast)
    // A minute later the first interval is out; the second is still in.
    assert.deepEqual(
      history.report(T0 + 60_000).samples.map((s) => s.at),
      [T0 + 20_000],
    )
    // Same slot as the first interval, one lap later.
    history.record(T0 + 60_000, true, false, slow)
    const samples = history.report(T0 + 61_000).samples
    assert.deepEqual(
      samples.map((s) => [s.at, s.requests, s.hits]),
      [
        [T0 + 20_000, 1, 1],
        [T0 + 60_000, 1, 0],
      ],
    )
    assert.deepEqual(samples[1]?.latency, [[slow, 1]])
  })

  test('several workers’ samples of one interval are summed; each keeps its own intervals', () => {
    const a: HistoryReport = {
      intervalSeconds: 10,
      seconds: 60,
      samples: [
        { at: T0, seconds: 10, requests: 9, lookups: 9, hits: 9, latency: [[fast, 9]] },
        { at: T0 + 10_000, seconds: 3, requests: 3, lookups: 3, hits: 0, latency: [[fast, 3]] },
      ],
    }
    const b: HistoryReport = {
      intervalSeconds: 10,
      seconds: 60,
      samples: [
        { at: T0 - 10_000, seconds: 10, requests: 1, lookups: 0, hits: 0, latency: [[slow, 1]] },
        { at: T0, seconds: 6, requests: 1, lookups: 1, hits: 0, latency: [[slow, 1]] },
      ],
    }
    assert.deepEqual(mergeHistories([a, b]), {
      intervalSeconds: 10,
      seconds: 60,
      samples: [
        { at: T0 - 10_000, seconds: 10, requests: 1, lookups: 0, hits: 0, latency: [[slow, 1]] },
        // Side by side over the same 10 s, not one after the other: the longest span.
        {
          at: T0,
          seconds: 10,
          requests: 10,
          lookups: 10,
          hits: 9,
          latency: [
            [fast, 9],
            [slow, 1],
          ],
        },
        { at: T0 + 10_000, seconds: 3, requests: 3, lookups: 3, hits: 0, latency: [[fast, 3]] },
      ],
    })
    assert.throws(() => mergeHistories([]), /no history/)
  })

  test('the snapshot reads requests per second, hit ratio and p50/p99 from each sample', () => {
    const [older, justStarted, passOnly] = historySnapshot({
      intervalSeconds: 10,
      seconds: 60,
      samples: [
        {
          at: T0,
          seconds: 10,
          requests: 100,
          lookups: 80,
          hits: 60,
          latency: [
            [fast, 98],
            [slow, 2],
          ],
        },
        { at: T0 + 10_000, seconds: 0.2, requests: 3, lookups: 3, hits: 3, latency: [[fast, 3]] },
        { at: T0 + 20_000, seconds: 10, requests: 5, lookups: 0, hits: 0, latency: [[fast, 5]] },
      ],
    }).samples
    assert.equal(older?.requestsPerSecond, 10)
    assert.equal(older?.hitRatio, 0.75)
    const within = (value: number | null | undefined, expected: number) =>
      assert.ok(
        typeof value === 'number' && value > expected / Math.SQRT2 && value <= expected * Math.SQRT2,
        `${value} ≈ ${expected}`,
      )
    within(older?.p50Ms, 2)
    within(older?.p99Ms, 400)
    // A fraction of a second into an interval counts as one second, not as a burst.
    assert.equal(justStarted?.requestsPerSecond, 3)
    assert.equal(passOnly?.hitRatio, null)
  })

  test('refuses bad options with the field named', () => {
    assert.throws(
      () => createHistory({ intervalSeconds: 0, intervals: 6, startedAt: 0 }),
      /status history: intervalSeconds must be a positive integer, got 0/,
    )
    assert.throws(
      () => createHistory({ intervalSeconds: 10, intervals: 1.5, startedAt: 0 }),
      /intervals must be a positive integer, got 1.5/,
    )
  })
})
