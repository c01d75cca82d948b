/**
 * Upgrade requests on the public listener (WebSockets, and any other protocol a client asks
 * to switch to): each gets a RequestContext as any request does and runs its own pipeline
 * (the request rules, the route, its rules and rate limit, then the upgrade stage, with no
 * cache), and a backend that switches protocols is joined to the client in a tunnel
 * (tunnel.ts). Any other answer is written as it came and the connection closed. Knows
 * nothing of caching or backends: it writes what the pipeline answers.
 *
 * node hands an upgrade over with the raw socket and no ServerResponse, so the answers are
 * written by raw-answer.ts. A limit on tunnels open or being opened (per process, like
 * server.maxConnections) keeps long-lived connections from crowding out the rest.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { EdgecacheError } from '../errors.ts'
import { events, publish } from '../observability/events.ts'
import { type Answer, refusalAnswer, textAnswer } from '../pipeline/answer.ts'
import type { Pipeline } from '../pipeline/compose.ts'
import { createFacts, type RequestContext, type TunnelOutcome } from '../pipeline/context.ts'
import { absoluteForm, type ExchangeShared, refusalOf } from './exchange.ts'
import { rawHead, writeRawAnswer } from './raw-answer.ts'
import { refusalText } from './refusal.ts'
import { requestIdOf } from './request-id.ts'
import { joinTunnel, type Tunnel } from './tunnel.ts'

export interface UpgradeOptions {
  /** Answers an Upgrade request: the rules, the route and its limits, then the upgrade stage. */
  readonly pipeline: Pipeline
  /** A tunnel with no byte either way for this long is cut. */
  readonly idleTimeoutMs: number
  /** Most tunnels open or being opened at once in this process; more are answered 503. */
  readonly maxTunnels: number
}

export interface Upgrades {
  /**
   * node's `shouldUpgradeCallback`: which Upgrade requests are tunnelled. The others are
   * answered as plain HTTP/1.1 requests (RFC 9110 §7.8 lets a server ignore Upgrade), their
   * Upgrade field dropped with the hop-by-hop fields: `h2c`, which asks edgecache itself to
   * speak HTTP/2, and requests with a body, whose bytes node would hand over mixed with the
   * tunnel's.
   */
  accepts(req: IncomingMessage): boolean
  /** node's `upgrade` listener. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Tunnels open now. */
  open(): number
  /** Cuts every open tunnel (shutdown, once its grace period has passed). */
  closeAll(): void
  /** Resolves once no tunnel is open or being opened, and each has been reported. */
  drained(): Promise<void>
}

/**
 * @example
 * const upgrades = createUpgrades({ pipeline: upgradePipeline, idleTimeoutMs: 300_000, maxTunnels: 1000 }, shared)
 * const server = createServer({ shouldUpgradeCallback: upgrades.accepts })
 * server.on('upgrade', upgrades.handle)
 */
export function createUpgrades(options: UpgradeOptions, shared: ExchangeShared): Upgrades {
  checkOptions(options)
  const tunnels = new Set<Tunnel>()
  /** Clients of the Upgrade requests still in their pipeline (waiting for a backend's answer). */
  const pending = new Set<Socket>()
  let opening = 0
  let waiting: (() => void)[] = []
  const settle = () => {
    if (tunnels.size > 0 || opening > 0 || waiting.length === 0) return
    const resolve = waiting
    waiting = []
    for (const done of resolve) done()
  }

  /** The request's one report: its outcome for metrics, its access line through onFinish. */
  const finish = (
    ctx: RequestContext,
    status: number,
    bytes: number,
    outcome: TunnelOutcome,
    opened?: { readonly bytesIn: number; readonly handshakeMs: number },
  ) => {
    ctx.facts.tunnel = { outcome, bytesIn: opened?.bytesIn ?? 0, handshakeMs: opened?.handshakeMs }
    publish(events.tunnelEnded, { outcome })
    try {
      shared.onFinish?.(ctx, status, bytes, shared.clock.now() - ctx.receivedAt)
    } catch (err) {
      shared.log.error({ err, reqId: ctx.id }, 'onFinish failed')
    }
    settle()
  }

  const answer = (ctx: RequestContext, socket: Socket, reply: Answer, outcome: TunnelOutcome) => {
    reply.upgrade?.destroy()
    reply.headers['x-request-id'] = ctx.id
    writeRawAnswer(socket, reply, ctx.method, (bytes) => finish(ctx, reply.status, bytes, outcome))
  }

  const refuse = (ctx: RequestContext, socket: Socket, err: EdgecacheError, outcome: TunnelOutcome) => {
    answer(ctx, socket, textAnswer(err.status ?? 400, refusalText(err, ctx.id)), outcome)
  }

  /** Joins the backend that switched protocols to the client, or relays what it said instead. */
  const deliver = (ctx: RequestContext, socket: Socket, head: Buffer, reply: Answer) => {
    const backend = reply.upgrade
    if (socket.destroyed) {
      // The client left while the backend was asked.
      backend?.destroy()
      if (reply.body !== undefined && !Buffer.isBuffer(reply.body)) reply.body.destroy()
      finish(ctx, 499, 0, 'closed')
      return
    }
    if (backend === undefined || reply.status !== 101) {
      // A refusal of edgecache's own (rules, rate limit, a failed backend) or the backend's.
      const outcome =
        ctx.facts.upstreamStatus !== undefined
          ? 'backend_declined'
          : reply.status >= 500
            ? 'failed'
            : 'refused'
      answer(ctx, socket, reply, outcome)
      return
    }
    if (shared.closing) {
      // Shutdown began while the backend was asked: a tunnel now would only be cut.
      const err = new EdgecacheError('EC_ERR_UPGRADE_UNAVAILABLE', ['shutting down'])
      refuse(ctx, socket, err, 'refused')
      backend.destroy()
      return
    }
    reply.headers['x-request-id'] = ctx.id
    socket.write(rawHead(101, reply.headers, 'upgrade'))
    const handshakeMs = shared.clock.now() - ctx.receivedAt
    const tunnel = joinTunnel(socket, backend, {
      idleTimeoutMs: options.idleTimeoutMs,
      head,
      onEnd: (report) => {
        tunnels.delete(tunnel)
        finish(ctx, 101, report.bytesOut, report.outcome, { bytesIn: report.bytesIn, handshakeMs })
      },
    })
    tunnels.add(tunnel)
  }

  return {
    accepts,
    handle(req, duplex, head) {
      const socket = duplex as Socket
      // node has removed its listeners: until the tunnel has its own, a reset is only a close.
      socket.on('error', ignore)
      const controller = new AbortController()
      const abort = () => controller.abort()
      socket.once('close', abort)
      const ctx = contextOf(req, socket, shared, controller.signal)
      const refusal = refusalOf(req, shared, false)
      if (refusal !== undefined) return refuse(ctx, socket, refusal, 'refused')
      if (shared.closing) {
        return refuse(
          ctx,
          socket,
          new EdgecacheError('EC_ERR_UPGRADE_UNAVAILABLE', ['shutting down']),
          'refused',
        )
      }
      if (tunnels.size + opening >= options.maxTunnels) {
        const err = new EdgecacheError('EC_ERR_UPGRADE_UNAVAILABLE', [`${options.maxTunnels} tunnels open`])
        return refuse(ctx, socket, err, 'over_limit')
      }
      opening += 1
      pending.add(socket)
      let replied: Promise<Answer>
      try {
        replied = options.pipeline(ctx)
      } catch (err) {
        replied = Promise.reject(err)
      }
      replied.then(
        (reply) => {
          opening -= 1
          pending.delete(socket)
          socket.off('close', abort)
          deliver(ctx, socket, head, reply)
        },
        (err: unknown) => {
          // compose.ts is the boundary that turns errors into answers; reaching here is a bug.
          opening -= 1
          pending.delete(socket)
          shared.log.error({ err, reqId: ctx.id }, 'pipeline rejected')
          if (socket.destroyed) finish(ctx, 499, 0, 'closed')
          else answer(ctx, socket, refusalAnswer(ctx.id, 500, 'internal error'), 'failed')
        },
      )
    },
    open: () => tunnels.size,
    closeAll() {
      for (const tunnel of tunnels) tunnel.close()
      // Their client's close aborts the request to the backend.
      for (const socket of pending) socket.destroy()
    },
    drained() {
      return new Promise((resolve) => {
        waiting.push(resolve)
        settle()
      })
    },
  }
}

function accepts(req: IncomingMessage): boolean {
  const headers = req.headers
  if (headers['transfer-encoding'] !== undefined) return false
  const length = headers['content-length']
  if (length !== undefined && length !== '0') return false
  const upgrade = headers.upgrade
  if (upgrade === undefined) return false
  return !upgrade.split(',').some((protocol) => protocol.trim().toLowerCase() === 'h2c')
}

/** The RequestContext of an Upgrade request, built as exchange.ts builds any request's. */
function contextOf(
  req: IncomingMessage,
  socket: Socket,
  shared: ExchangeShared,
  signal: AbortSignal,
): RequestContext {
  const headers = req.headers
  const url = req.url ?? '/'
  const absolute = url.charCodeAt(0) === 47 ? undefined : absoluteForm(url)
  return {
    id: requestIdOf(headers['x-request-id']),
    method: req.method ?? 'GET',
    scheme: 'http',
    host: absolute?.host ?? (headers.host === undefined ? '' : headers.host.toLowerCase()),
    target: absolute?.target ?? url,
    httpVersion: req.httpVersion,
    headers,
    // The PROXY protocol's client, when the listener speaks it (proxy-protocol-listener.ts).
    clientAddress: socket.remoteAddress ?? '',
    body: undefined,
    receivedAt: shared.clock.now(),
    signal,
    facts: createFacts(),
  }
}

function ignore(): void {}

function checkOptions(options: UpgradeOptions): void {
  if (typeof options.pipeline !== 'function') throw invalid('pipeline must be a function')
  if (!Number.isInteger(options.idleTimeoutMs) || options.idleTimeoutMs < 1) {
    throw invalid(`idleTimeoutMs must be an integer of at least 1, got ${options.idleTimeoutMs}`)
  }
  if (!Number.isInteger(options.maxTunnels) || options.maxTunnels < 1) {
    throw invalid(`maxTunnels must be an integer of at least 1, got ${options.maxTunnels}`)
  }
}

function invalid(problem: string): EdgecacheError {
  return new EdgecacheError('EC_ERR_CONFIG_INVALID', [`upgrades: ${problem}`])
}
