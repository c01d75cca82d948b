/**
 * A circuit breaker for a remote store: after `failureThreshold` failures in a row it opens
 * and calls fail at once (no request waits on a store that is down); after `cooldownMs` it
 * lets one call through (half-open), and closes again when that call succeeds.
 */
import type { Clock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  readonly failureThreshold?: number
  /** How long the circuit stays open before one call may try again, ms. @default 1000 */
  readonly cooldownMs?: number
  readonly clock: Clock
  /** Told of every state change, for logs, metrics and /ready. */
  onStateChange?(state: BreakerState, lastError: unknown): void
}

export interface CircuitBreaker {
  /** Runs `call` unless the circuit is open; an open circuit rejects with EC_ERR_STORAGE_UNAVAILABLE. */
  run<T>(call: () => Promise<T>): Promise<T>
  state(): BreakerState
  /** True while calls would fail fast: open and still cooling down, or a probe is running. */
  rejecting(): boolean
  /** The last failure seen, for /ready. */
  lastError(): string | undefined
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const threshold = options.failureThreshold ?? 5
  const cooldownMs = options.cooldownMs ?? 1_000
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new Error(`circuit breaker: failureThreshold must be a positive integer, got ${threshold}`)
  }
  let state: BreakerState = 'closed'
  let failures = 0
  let openedAt = 0
  let probing = false
  let lastError: string | undefined

  const moveTo = (next: BreakerState, err?: unknown) => {
    if (state === next) return
    state = next
    options.onStateChange?.(next, err)
  }

  const succeeded = () => {
    failures = 0
    moveTo('closed')
  }

  const failed = (err: unknown) => {
    failures++
    lastError = err instanceof Error ? err.message : String(err)
    if (state === 'half-open' || failures >= threshold) {
      openedAt = options.clock.now()
      moveTo('open', err)
    }
  }

  return {
    async run(call) {
      if (state === 'open') {
        if (options.clock.now() - openedAt < cooldownMs || probing) {
          throw new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['circuit open'])
        }
        moveTo('half-open')
      }
      if (state === 'half-open') {
        // One probe at a time; the others fail fast until it tells us whether the store is back.
        if (probing) throw new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['circuit half-open'])
        probing = true
      }
      try {
        const result = await call()
        succeeded()
        return result
      } catch (err) {
        failed(err)
        throw err
      } finally {
        probing = false
      }
    },
    state: () => state,
    rejecting: () =>
      (state === 'open' && options.clock.now() - openedAt < cooldownMs) || (state !== 'closed' && probing),
    lastError: () => lastError,
  }
}

/**
 * Calls `ping` through `breaker` every `everyMs`. The breaker learns only from calls, and
 * /ready and metrics read it: without traffic it would say up long after the store went
 * away, and down long after it came back. Returns the function that stops it.
 */
export function probeEvery(breaker: CircuitBreaker, ping: () => Promise<void>, everyMs: number): () => void {
  const timer = setInterval(() => {
    breaker.run(ping).catch(() => {})
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
