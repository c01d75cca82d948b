/**
 * The backend's health as /ready reports it: an active check (a TCP connect every interval)
 * and what real requests show (a refused connection marks it down at once, an answer marks
 * it up). Proxying never waits on it; it only tells load balancers whether to send traffic.
 */
import { connect } from 'node:net'
import type { Clock } from '../clock.ts'

export interface UpstreamHealth {
  readonly healthy: boolean
  /** Epoch ms of the last check or request outcome; undefined before the first. */
  readonly lastCheck: number | undefined
  readonly lastError: string | undefined
}

export interface HealthMonitor {
  state(): UpstreamHealth
  /** Records what a real request showed. */
  record(ok: boolean, error?: string): void
  close(): void
}

export interface HealthMonitorOptions {
  readonly url: string
  /** Time between active checks; 0 disables them. */
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly clock: Clock
  /** Told once each time the backend goes down or comes back, not of every check. */
  onChange?(health: UpstreamHealth): void
}

export function createHealthMonitor(options: HealthMonitorOptions): HealthMonitor {
  const url = new URL(options.url)
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  const host = url.hostname.replace(/^\[|\]$/g, '')
  // Optimistic until shown otherwise: a fresh instance should not fail readiness on a guess.
  let health: UpstreamHealth = { healthy: true, lastCheck: undefined, lastError: undefined }
  let timer: NodeJS.Timeout | undefined
  let checking = false

  const record = (ok: boolean, error?: string) => {
    const changed = ok !== health.healthy
    health = { healthy: ok, lastCheck: options.clock.now(), lastError: ok ? undefined : error }
    if (changed) options.onChange?.(health)
  }

  const check = () => {
    if (checking) return
    checking = true
    const socket = connect({ host, port })
    const done = (ok: boolean, error?: string) => {
      if (!checking) return
      checking = false
      socket.destroy()
      record(ok, error)
    }
    socket.setTimeout(options.timeoutMs, () => done(false, 'connect timed out'))
    socket.once('connect', () => done(true))
    socket.once('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? 'connect failed'))
  }

  if (options.intervalMs > 0) {
    check()
    timer = setInterval(check, options.intervalMs)
    timer.unref()
  }

  return {
    state: () => health,
    record,
    close() {
      clearInterval(timer)
    },
  }
}
