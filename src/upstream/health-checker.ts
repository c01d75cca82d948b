/**
 * Active health checks: every `intervalMs`, each server of a pool is checked, with a GET of
 * `path` (healthy on 2xx or 3xx) or, without a path, a TCP connect, and the result goes to
 * the pool, which marks the server down or up after its thresholds. Checks run in the
 * background on unref'd timers and never fail a request; one check per server at a time.
 */
import { connect } from 'node:net'

export interface HealthCheckTarget {
  readonly url: string
  /** GETs `path` through the server's connections (see Upstream.probe). */
  probe(path: string, host: string, timeoutMs: number): Promise<number>
}

export interface HealthCheckerOptions {
  readonly servers: readonly HealthCheckTarget[]
  /** Unset: a TCP connect is the check. */
  readonly path: string | undefined
  /** Host header of the check; unset: the server URL's host. */
  readonly host: string | undefined
  /** 0 turns the checks off. */
  readonly intervalMs: number
  readonly timeoutMs: number
  /** Where results go. */
  record(url: string, ok: boolean, error?: string): void
}

export interface HealthChecker {
  close(): void
}

/**
 * @example
 * const checker = startHealthChecks({ servers, path: '/healthz', host: undefined, intervalMs: 2000,
 *   timeoutMs: 1000, record: (url, ok, error) => pool.recordCheck(url, ok, error) })
 */
export function startHealthChecks(options: HealthCheckerOptions): HealthChecker {
  const { path, intervalMs, timeoutMs, record } = options
  if (intervalMs <= 0) return { close() {} }
  const busy = new Set<string>()
  let closed = false

  const checkOne = (server: HealthCheckTarget) => {
    if (busy.has(server.url)) return
    busy.add(server.url)
    const url = new URL(server.url)
    const check =
      path === undefined
        ? tcpCheck(url, timeoutMs)
        : server
            .probe(path, options.host ?? url.host, timeoutMs)
            .then((status) => (status >= 200 && status < 400 ? undefined : `status ${status}`))
    check
      .catch((err: unknown) => describe(err))
      .then((error) => {
        busy.delete(server.url)
        if (!closed) record(server.url, error === undefined, error)
      })
  }
  const checkAll = () => {
    for (const server of options.servers) checkOne(server)
  }
  checkAll()
  const timer = setInterval(checkAll, intervalMs)
  timer.unref()
  return {
    close() {
      closed = true
      clearInterval(timer)
    },
  }
}

/** Resolves undefined when a TCP connection opens within the bound, else the error's words. */
function tcpCheck(url: URL, timeoutMs: number): Promise<string | undefined> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  const host = url.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    let done = false
    const finish = (error: string | undefined) => {
      if (done) return
      done = true
      socket.destroy()
      resolve(error)
    }
    socket.setTimeout(timeoutMs, () => finish('connect timed out'))
    socket.once('connect', () => finish(undefined))
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'connect failed'))
  })
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown }
  if (typeof e?.code === 'string') return e.code
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'check timed out'
  return typeof e?.message === 'string' ? e.message : 'check failed'
}
