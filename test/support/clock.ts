/**
 * A clock that moves only when a test moves it, so expiry and freshness can be tested
 * without sleeping. It does not touch timers: pair it with node:test's `mock.timers`
 * when the code under test also schedules work.
 */
import type { Clock } from '../../src/clock.ts'

/** A {@link Clock} the test drives by hand. */
export interface FakeClock extends Clock {
  /** Moves the clock forward by `ms` (never backward). */
  advance(ms: number): void
  /** Puts the clock at `ms` epoch milliseconds; may move it backward. */
  set(ms: number): void
}

/**
 * Creates a fake clock standing at `start` epoch ms.
 *
 * @example
 * const clock = createFakeClock()
 * const store = createMemoryStore({ clock })
 * clock.advance(60_000)
 */
export function createFakeClock(start: number = Date.UTC(2026, 0, 1)): FakeClock {
  checkFinite('start', start)
  let current = start
  return {
    now: () => current,
    advance(ms) {
      checkFinite('advance', ms)
      if (ms < 0) throw new RangeError(`fake clock: advance takes ms >= 0, got ${ms}`)
      current += ms
    },
    set(ms) {
      checkFinite('set', ms)
      current = ms
    },
  }
}

function checkFinite(field: string, value: number): void {
  if (!Number.isFinite(value))
    throw new TypeError(`fake clock: ${field} must be a finite number, got ${value}`)
}
