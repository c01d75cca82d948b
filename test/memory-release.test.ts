import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import { getHeapStatistics } from 'node:v8'
import { collectForFootprint, type MemoryReleased, releaseMemoryWhenQuiet } from '../src/memory-release.ts'

/** A process whose finished requests the test sets, its collections and releases counted. */
function watched(windowMs: number) {
  let finished = 0
  let collections = 0
  const released: MemoryReleased[] = []
  const stop = releaseMemoryWhenQuiet({
    windowMs,
    finishedRequests: () => finished,
    collect: () => void collections++,
    onReleased: (r) => void released.push(r),
  })
  return {
    finish: (n: number) => {
      finished += n
    },
    window: () => mock.timers.tick(windowMs),
    collections: () => collections,
    released,
    stop,
  }
}

describe('releasing memory after a busy spell', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval'] }))
  afterEach(() => mock.timers.reset())

  test('the first quiet window after a busy one collects once, and later quiet ones do not', () => {
    const p = watched(10_000)
    p.finish(500)
    p.window()
    assert.equal(p.collections(), 0, 'not while busy')
    p.finish(3)
    p.window()
    assert.equal(p.collections(), 1)
    assert.equal(p.released.length, 1)
    const [released] = p.released
    assert.ok(released !== undefined && released.heapBeforeBytes > 0 && released.durationMs >= 0)
    assert.ok(released.residentBeforeBytes > 0 && released.residentAfterBytes > 0)
    p.window()
    p.finish(10)
    p.window()
    assert.equal(p.collections(), 1, 'quiet windows after a release collect nothing')
    p.stop()
  })

  test('start-up counts as a busy spell: the first quiet window after it collects once', () => {
    const p = watched(10_000)
    assert.equal(p.collections(), 0, 'not at once')
    p.finish(1)
    p.window()
    assert.equal(p.collections(), 1)
    p.window()
    p.window()
    assert.equal(p.collections(), 1)
    p.stop()
  })

  test('one request a second is quiet, more is busy', () => {
    const p = watched(10_000)
    p.window()
    assert.equal(p.collections(), 1, 'the release after start')
    p.finish(10)
    p.window()
    p.window()
    assert.equal(p.collections(), 1, 'ten in ten seconds is quiet: nothing to give back')
    p.finish(11)
    p.window()
    p.window()
    assert.equal(p.collections(), 2, 'eleven in ten seconds is busy')
    p.stop()
  })

  test('steady traffic never collects; a new busy spell collects again once it ends', () => {
    const p = watched(1_000)
    for (let i = 0; i < 20; i++) {
      p.finish(50)
      p.window()
    }
    assert.equal(p.collections(), 0)
    p.window()
    assert.equal(p.collections(), 1)
    p.finish(50)
    p.window()
    p.window()
    assert.equal(p.collections(), 2)
    p.stop()
  })

  test('stopped, or with a window of 0, it never collects', () => {
    const stopped = watched(1_000)
    stopped.finish(50)
    stopped.stop()
    stopped.window()
    stopped.window()
    assert.equal(stopped.collections(), 0)

    const off = watched(0)
    off.finish(50)
    mock.timers.tick(60_000)
    assert.equal(off.collections(), 0)
  })
})

test('the collection gives back what garbage held, without putting gc on the global object', () => {
  const before = typeof (globalThis as { gc?: unknown }).gc
  const collect = collectForFootprint()
  assert.ok(collect !== undefined, 'V8 gives the collection on this Node')
  // About 80 MiB of objects kept long enough to reach the old generation, then dropped.
  let held: object[][] | undefined = Array.from({ length: 200 }, () =>
    Array.from({ length: 10_000 }, (_, i) => ({ i })),
  )
  const grown = getHeapStatistics().total_heap_size
  assert.equal(held.length, 200)
  held = undefined
  collect()
  const after = getHeapStatistics().total_heap_size
  assert.ok(after < grown - 32 * 1024 ** 2, `heap ${grown} -> ${after} bytes`)
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, before)
})
