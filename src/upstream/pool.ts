/**
 * A named pool of backend servers: picks one for each request (balancer.ts) among those
 * available (server-health.ts), forwards through that server's own keep-alive connections
 * (upstream.ts), tries an idempotent request again on another server when the first failed
 * before any response byte or answered with a retryable status, within the retry budget
 * (retry-budget.ts), and answers 503 at once when no server is available or the pool's
 * queue is full. It never retries once it has handed an answer back: the response has
 * started. It neither caches nor writes to the client.
 */
import type { Clock } from '../clock.ts'
import { EdgecacheError } from '../errors.ts'
import { events, publish } from '../observability/events.ts'
import type { Answer } from '../pipeline/answer.ts'
import type { RequestContext } from '../pipeline/context.ts'
import { type BalanceMode, createBalancer } from './balancer.ts'
import { createRetryBudget } from './retry-budget.ts'
import { ServerHealth, type ServerHealthOptions, type ServerHealthReport } from './server-health.ts'
import { isIdempotent, type Upstream } from './upstream.ts'

/** One server as the pool is given it: its connections already opened. */
export interface PoolServerSpec {
  readonly url: string
  readonly weight: number
  readonly backup: boolean
  readonly upstream: Upstream
}

export interface PoolOptions {
  readonly name: string
  readonly servers: readonly PoolServerSpec[]
  readonly balance: BalanceMode
  /** What balance: hash hashes for a request; only called in that mode. */
  readonly hashKey: (ctx: RequestContext) => string
  /** Connections each server's undici Pool opens at most (requests past it wait). */
  readonly connections: number
  /** Requests of the whole pool that may wait for a connection; past it, 503 at once. */
  readonly queue: number
  readonly health: ServerHealthOptions
  readonly retry: {
    readonly attempts: number
    readonly on: readonly number[]
    readonly budget: number
    readonly minPerSecond: number
  }
  /**
   * Route around servers that are down or ejected. The pool `upstream.url` makes has one
   * server and reports its health for /ready only: with nowhere else to go, it keeps trying.
   * @default true
   */
  readonly routeAroundDown?: boolean
  readonly clock: Clock
  /** Told once each time a server becomes unavailable or available again, not at every check. */
  onChange?(server: string, available: boolean, error: string | undefined): void
}

/** One server as /ready, the status page and metrics show it. */
export interface ServerReport extends ServerHealthReport {
  readonly url: string
  readonly weight: number
  readonly backup: boolean
  /** Available to the balancer now. */
  readonly available: boolean
  /** Requests on it now, from sending until the response body ended. */
  readonly active: number
  /** Connections open to it now, busy or idle. */
  readonly connections: number
}

export interface UpstreamPool {
  readonly name: string
  /**
   * Forwards `ctx` to a server of the pool, trying another when that is safe, and resolves
   * once the response header section has arrived (see Upstream.send). Rejects with
   * `EC_ERR_UPSTREAM_UNAVAILABLE` or `EC_ERR_UPSTREAM_BUSY` (503) without trying any server.
   */
  send(ctx: RequestContext): Promise<Answer>
  /**
   * Forwards an Upgrade request to a server of the pool as `send` does (Upstream.upgrade):
   * a server that switches protocols answers 101 with its connection in `upgrade`. Open
   * tunnels are not counted as the server's active requests: they hold no pooled connection.
   */
  upgrade(ctx: RequestContext): Promise<Answer>
  /** Records an active check's result for the server with `url`. */
  recordCheck(url: string, ok: boolean, error?: string): void
  servers(): readonly ServerReport[]
  /** True when at least one server may be sent requests. */
  isAvailable(): boolean
  /** Requests waiting for headers, over every server. */
  inFlight(): number
  close(): Promise<void>
}

/** Failures before any response byte that say the server could not serve it. */
const retryableCodes = new Set([
  'EC_ERR_UPSTREAM_CONNECT',
  'EC_ERR_UPSTREAM_RESET',
  'EC_ERR_UPSTREAM_TIMEOUT',
])

interface Member {
  readonly url: string
  readonly weight: number
  readonly backup: boolean
  readonly upstream: Upstream
  readonly health: ServerHealth
  /** Requests on it, until their response body ends. */
  active: number
}

/**
 * @example
 * const pool = createPool({ name: 'app', servers, balance: 'round-robin', hashKey, connections: 64,
 *   queue: 1000, health, retry: { attempts: 2, on: [502, 503, 504], budget: 0.2, minPerSecond: 3 }, clock })
 * const answer = await pool.send(ctx)
 */
export function createPool(options: PoolOptions): UpstreamPool {
  const { name, clock, connections, queue } = options
  const routeAround = options.routeAroundDown !== false
  const members: Member[] = options.servers.map((server) => ({
    url: server.url,
    weight: server.weight,
    backup: server.backup,
    upstream: server.upstream,
    health: new ServerHealth(options.health),
    active: 0,
  }))
  const balancer = createBalancer(options.balance)
  const budget = createRetryBudget(options.retry.budget, options.retry.minPerSecond)
  const retryOn = new Set(options.retry.on)
  const hashing = options.balance === 'hash'

  /** Servers to choose from now: available primaries, else available backups, untried ones only. */
  const choices = (tried: ReadonlySet<Member>, now: number): Member[] => {
    const usable = (m: Member) => !tried.has(m) && (!routeAround || m.health.isAvailable(now))
    const primaries = members.filter((m) => !m.backup && usable(m))
    if (primaries.length > 0) return primaries
    return members.filter((m) => m.backup && usable(m))
  }

  /** Requests waiting for a connection, over the pool: each server's beyond its connections. */
  const waiting = (): number => {
    let total = 0
    for (const m of members) if (m.active > connections) total += m.active - connections
    return total
  }

  const canTryAgain = (ctx: RequestContext, attempt: number): boolean =>
    attempt < options.retry.attempts &&
    isIdempotent(ctx.method) &&
    // A streamed request body has been read by the first try: it cannot be sent again. One
    // read whole before going upstream (server.requestBuffering) is a Buffer, sent again as is.
    (ctx.body === undefined || Buffer.isBuffer(ctx.body)) &&
    !ctx.signal.aborted

  /** Spends the budget for one retry; says so on the channel either way. */
  const spendRetry = (): boolean => {
    const allowed = budget.tryRetry(clock.now())
    publish(events.upstreamRetry, { upstream: name, result: allowed ? 'retried' : 'over-budget' })
    return allowed
  }

  /** Runs `record` on a member's health and tells `onChange` when its availability flipped. */
  const observe = (member: Member, record: (now: number) => void) => {
    const now = clock.now()
    const before = member.health.isAvailable(now)
    record(now)
    const after = member.health.isAvailable(now)
    if (before !== after) options.onChange?.(member.url, after, member.health.report(now).lastError)
  }

  const recordOutcome = (member: Member, ok: boolean, error?: string) => {
    observe(member, (now) => {
      if (member.health.recordRequest(ok, now, error)) {
        publish(events.upstreamServerChange, { upstream: name, server: member.url, change: 'ejected' })
      }
    })
  }

  /** Keeps `member` counted as active until the answer's body has ended. */
  const holdUntilDone = (member: Member, answer: Answer): Answer => {
    const body = answer.body
    if (body === undefined || Buffer.isBuffer(body)) {
      member.active--
      return answer
    }
    body.once('close', () => {
      member.active--
    })
    return answer
  }

  /** Sends `ctx` to a server of the pool, and to another when that is safe. */
  const forward = async (ctx: RequestContext, upgrade: boolean) => {
    budget.request(clock.now())
    const tried = new Set<Member>()
    let lastError: unknown
    for (let attempt = 1; ; attempt++) {
      const now = clock.now()
      const candidates = choices(tried, now)
      if (candidates.length === 0) {
        if (lastError !== undefined) throw lastError
        publish(events.upstreamRejected, { upstream: name, reason: 'unavailable' })
        throw new EdgecacheError('EC_ERR_UPSTREAM_UNAVAILABLE')
      }
      const index = balancer.pick(candidates, hashing ? options.hashKey(ctx) : '')
      const member = candidates[index]!
      if (member.active >= connections && waiting() >= queue) {
        if (lastError !== undefined) throw lastError
        publish(events.upstreamRejected, { upstream: name, reason: 'busy' })
        throw new EdgecacheError('EC_ERR_UPSTREAM_BUSY')
      }
      tried.add(member)
      member.active++
      let answer: Answer
      try {
        answer = await (upgrade ? member.upstream.upgrade(ctx) : member.upstream.send(ctx))
      } catch (err) {
        member.active--
        const code = (err as { code?: unknown })?.code
        if (typeof code !== 'string' || !retryableCodes.has(code) || ctx.signal.aborted) throw err
        recordOutcome(member, false, code)
        if (!canTryAgain(ctx, attempt) || choices(tried, clock.now()).length === 0 || !spendRetry()) throw err
        lastError = err
        continue
      }
      recordOutcome(member, true)
      if (
        retryOn.has(answer.status) &&
        canTryAgain(ctx, attempt) &&
        choices(tried, clock.now()).length > 0 &&
        spendRetry()
      ) {
        // Nothing of it has reached the client: drop it and ask another server.
        const body = answer.body
        member.active--
        if (body !== undefined && !Buffer.isBuffer(body)) body.resume()
        continue
      }
      return holdUntilDone(member, answer)
    }
  }

  return {
    name,
    send: (ctx) => forward(ctx, false),
    upgrade: (ctx) => forward(ctx, true),
    recordCheck(url, ok, error) {
      const member = members.find((m) => m.url === url)
      if (member === undefined) return
      observe(member, (now) => {
        if (member.health.recordCheck(ok, now, error)) {
          publish(events.upstreamServerChange, { upstream: name, server: url, change: ok ? 'up' : 'down' })
        }
      })
    },
    servers() {
      const now = clock.now()
      return members.map((m) => ({
        url: m.url,
        weight: m.weight,
        backup: m.backup,
        available: m.health.isAvailable(now),
        active: m.active,
        connections: m.upstream.connections(),
        ...m.health.report(now),
      }))
    },
    isAvailable() {
      const now = clock.now()
      return members.some((m) => m.health.isAvailable(now))
    },
    inFlight: () => members.reduce((total, m) => total + m.upstream.inFlight(), 0),
    async close() {
      await Promise.all(members.map((m) => m.upstream.close()))
    },
  }
}
