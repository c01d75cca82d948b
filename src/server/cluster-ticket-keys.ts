/**
 * TLS session ticket keys shared by every worker of an instance. A TLS server makes its own
 * keys by default, so with several workers a client that resumes its session lands, more
 * often than not, on a worker that cannot read its ticket, and pays a full handshake. The
 * primary makes the keys, hands them to each worker that asks (a worker asks once its TLS
 * listener exists, including a worker restarted later), and makes new ones every
 * `rotateMs`, sent to every worker: old tickets then cost one full handshake each, which is
 * what rotation is for (a stolen key reads only the sessions of its period).
 */
import { randomBytes } from 'node:crypto'
import type { Cluster } from 'node:cluster'

/** 16 bytes of name, 16 of HMAC secret, 16 of AES key: the size node's setTicketKeys takes. */
const KEY_BYTES = 48
/** New keys twice a day; a ticket itself lives `sessionTimeout` (node's default: 5 minutes). */
export const ROTATE_MS = 12 * 3_600_000

type TicketKeyMessage =
  | { readonly type: 'edgecache:tls-ticket-keys-ask' }
  | { readonly type: 'edgecache:tls-ticket-keys'; readonly keys: string }

function isTicketKeyMessage(message: unknown): message is TicketKeyMessage {
  const type = (message as { type?: unknown } | null)?.type
  return type === 'edgecache:tls-ticket-keys-ask' || type === 'edgecache:tls-ticket-keys'
}

/** The primary's side: answers each worker that asks, and rotates the keys for all. */
export function serveTicketKeys(cluster: Cluster, rotateMs = ROTATE_MS): void {
  let keys = randomBytes(KEY_BYTES)
  const message = (): TicketKeyMessage => ({
    type: 'edgecache:tls-ticket-keys',
    keys: keys.toString('base64'),
  })
  cluster.on('message', (worker, received: unknown) => {
    if (isTicketKeyMessage(received) && received.type === 'edgecache:tls-ticket-keys-ask') {
      worker.send(message())
    }
  })
  setInterval(() => {
    keys = randomBytes(KEY_BYTES)
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker?.isConnected()) worker.send(message())
    }
  }, rotateMs).unref()
}

/**
 * The worker's side: asks the primary for the keys and calls `apply` with them, now and at
 * each rotation. Until they arrive the listener uses its own, as a single process does.
 */
export function followTicketKeys(
  apply: (keys: Buffer) => void,
  ipc: { send(message: TicketKeyMessage): void; onMessage(listener: (message: unknown) => void): void },
): void {
  ipc.onMessage((message) => {
    if (!isTicketKeyMessage(message) || message.type !== 'edgecache:tls-ticket-keys') return
    const keys = Buffer.from(message.keys, 'base64')
    if (keys.length === KEY_BYTES) apply(keys)
  })
  ipc.send({ type: 'edgecache:tls-ticket-keys-ask' })
}
