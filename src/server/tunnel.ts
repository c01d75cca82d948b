/**
 * A tunnel: the client's connection and the backend's, joined both ways once the backend
 * has switched protocols (a WebSocket after its 101). Bytes pass as they come, with
 * backpressure each way; an end (FIN) on one side is passed to the other, so a protocol's
 * own closing handshake completes. It never looks into the bytes.
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TunnelOutcome } from '../pipeline/context.ts'

/** How a tunnel ended; metrics and the access line carry it. */
export type TunnelClose = Extract<TunnelOutcome, 'closed' | 'idle_timeout' | 'error' | 'shutdown'>

export interface TunnelReport {
  readonly outcome: TunnelClose
  /** Bytes from the client to the backend. */
  readonly bytesIn: number
  /** Bytes from the backend to the client. */
  readonly bytesOut: number
}

export interface Tunnel {
  /** Cuts both connections now (shutdown); the report says `shutdown`. */
  close(): void
}

export interface TunnelOptions {
  /**
   * The tunnel is cut after this long without a byte either way. Every byte either way
   * passes through the client's socket, so its own inactivity timer measures both.
   */
  readonly idleTimeoutMs: number
  /** Bytes the client sent after its request head, already read by node; sent on first. */
  readonly head: Buffer
  /** Called once, when both connections have closed. */
  onEnd(report: TunnelReport): void
}

/**
 * Joins `client` and `backend`. Call it once the 101 has been written to the client.
 *
 * @example
 * const tunnel = joinTunnel(clientSocket, answer.upgrade, { idleTimeoutMs: 300_000, head, onEnd: report })
 */
export function joinTunnel(client: Socket, backend: Duplex, options: TunnelOptions): Tunnel {
  // Counted from the socket's own totals, so the bytes cost nothing per chunk.
  const readBefore = client.bytesRead
  const writtenBefore = client.bytesWritten
  let outcome: TunnelClose | undefined
  let open = 2
  const cut = (why: TunnelClose) => {
    outcome ??= why
    client.destroy()
    backend.destroy()
  }
  const onClose = () => {
    open -= 1
    if (open > 0) return
    options.onEnd({
      outcome: outcome ?? 'closed',
      bytesIn: client.bytesRead - readBefore + options.head.length,
      bytesOut: client.bytesWritten - writtenBefore,
    })
  }
  // A reset from either side ends both; `error` is not thrown, the report carries it.
  client.on('error', () => cut('error'))
  backend.on('error', () => cut('error'))
  client.once('close', onClose)
  backend.once('close', onClose)
  // Nothing more can reach a client whose socket has closed, nor leave it.
  client.once('close', () => backend.destroy())
  // The backend gone: what it sent is flushed (pipe ends the client after it); a backend
  // that failed takes the client with it.
  backend.once('close', () => {
    if (!backend.readableEnded) client.destroy()
  })
  client.setTimeout(options.idleTimeoutMs, () => cut('idle_timeout'))
  if (options.head.length > 0) backend.write(options.head)
  client.pipe(backend)
  backend.pipe(client)
  return { close: () => cut('shutdown') }
}
