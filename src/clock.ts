/** Where every part of edgecache that needs the time gets it, so tests can pass a fake one. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
