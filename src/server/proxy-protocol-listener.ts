/**
 * The PROXY protocol on a listener (`server.proxyProtocol`): reads the header a load
 * balancer puts before the first request of each connection it relays, and makes the
 * client it names the connection's peer, so logs, X-Forwarded-For, rate limits and request
 * rules see the client rather than the balancer. Knows nothing of HTTP: it sits between
 * accept and node's HTTP parser, which it hands the connection to once the header is read.
 *
 * Who may send a header is decided by address, never guessed from the bytes
 * (proxy-protocol.txt §2 says a receiver must not guess): a peer in `allow` must start with
 * one, and any other peer must not. A connection that breaks the rule is closed without an
 * answer (a PROXY header is not HTTP, and an answer would tell a prober what it hit).
 */
import type { Server, Socket } from 'node:net'
import { Server as TlsServer, type TLSSocket } from 'node:tls'
import type { AddressList } from '../address-list.ts'
import { events, publish } from '../observability/events.ts'
import { parseProxyHeader, startsWithProxySignature } from './proxy-protocol.ts'

/** Why a connection was closed before reaching HTTP; the `reason` of its log line and metric. */
export type ProxyProtocolRefusal = 'untrusted' | 'malformed' | 'missing' | 'timeout'

/** The log line of each refusal. */
export const refusalMessages: Readonly<Record<ProxyProtocolRefusal, string>> = {
  untrusted: 'proxy protocol header from an address not allowed, connection closed',
  malformed: 'malformed proxy protocol header, connection closed',
  missing: 'no proxy protocol header from an allowed address, connection closed',
  timeout: 'proxy protocol header not received in time, connection closed',
}

export interface ProxyProtocolOptions {
  /** Peers that must start each connection with a header; every other peer must not send one. */
  readonly allow: AddressList
  /** Longest wait for the header (and, from other peers, for the bytes that show there is none). */
  readonly timeoutMs: number
  readonly log: { warn(obj: object, msg: string): void }
}

/**
 * Puts the header read in front of `server`'s own connection handling. Call it right after
 * the server is made, before anything else listens for `connection`: the handlers there
 * now (node's HTTP parser) run once the header is read; those added later run at accept.
 * Without this call nothing is read ahead: a listener without the setting pays nothing.
 *
 * @example
 * const server = createServer(handler)
 * acceptProxyProtocol(server, { allow: createAddressList(['10.0.0.0/8'], bad), timeoutMs: 10_000, log })
 */
export function acceptProxyProtocol(server: Server, options: ProxyProtocolOptions): void {
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[]
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    const sender = options.allow.has(socket.remoteAddress ?? '')
    readAhead(socket, sender, options, () => {
      for (const handler of handlers) handler.call(server, socket)
    })
  })
  // Behind a TCP balancer the header comes before the TLS handshake, on the TCP connection;
  // HTTP is read from the TLS socket made over it, which asks the kernel for its peer.
  // Before HTTP (HTTP/1.1 or HTTP/2) sees it, it takes the client from its TCP connection.
  if (server instanceof TlsServer) server.prependListener('secureConnection', copyPeerFromTcp)
}

/**
 * node makes each TLS socket over the accepted TCP one and keeps that as `_parent`, which
 * it has done since TLS sockets were first built on streams; no public field links the two.
 */
function copyPeerFromTcp(tlsSocket: TLSSocket): void {
  const tcp = (tlsSocket as TLSSocket & { _parent?: Socket })._parent
  if (tcp === undefined || !Object.hasOwn(tcp, 'remoteAddress')) return
  setPeer(tlsSocket, {
    address: tcp.remoteAddress ?? '',
    port: tcp.remotePort ?? 0,
    family: tcp.remoteFamily ?? '',
  })
}

/**
 * Reads the connection's first bytes: from a sender, up to the end of its header; from
 * anyone else, until they are plainly not a header's beginning. Then it puts back what
 * follows the header and calls `handOver`, or closes the connection.
 */
function readAhead(
  socket: Socket,
  sender: boolean,
  options: ProxyProtocolOptions,
  handOver: () => void,
): void {
  let head: Buffer | undefined
  const finish = () => {
    clearTimeout(timer)
    socket.off('readable', onReadable)
    socket.off('error', onGone)
    socket.off('end', onGone)
  }
  const refuse = (reason: ProxyProtocolRefusal, detail?: string) => {
    finish()
    publish(events.proxyProtocolRefused, { reason })
    // The peer's bytes are not logged: they are the untrusted part. One message per reason,
    // so the logger's repeat limit holds back a flood of one kind without hiding another.
    options.log.warn(
      { remoteAddress: socket.remoteAddress, reason, ...(detail === undefined ? {} : { detail }) },
      refusalMessages[reason],
    )
    socket.destroy()
  }
  // Gone before a whole header (a TCP health check that connects and leaves): nothing to say.
  const onGone = () => {
    finish()
    socket.destroy()
  }
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      head = head === undefined ? chunk : Buffer.concat([head, chunk])
    }
    if (head === undefined) return
    if (!sender) {
      const seen = startsWithProxySignature(head)
      if (seen === 'maybe') return
      if (seen === 'yes') return refuse('untrusted')
      finish()
      socket.unshift(head)
      handOver()
      return
    }
    const parsed = parseProxyHeader(head)
    if (parsed.state === 'incomplete') return
    if (parsed.state === 'invalid') {
      return startsWithProxySignature(head) === 'no' ? refuse('missing') : refuse('malformed', parsed.reason)
    }
    finish()
    if (parsed.header.kind === 'proxied') setPeer(socket, parsed.header)
    // What followed the header in the same packets is the first request: HTTP's, as it came.
    if (head.length > parsed.length) socket.unshift(head.subarray(parsed.length))
    handOver()
  }
  const timer = setTimeout(() => {
    if (head === undefined && !sender) onGone()
    else refuse('timeout')
  }, options.timeoutMs)
  socket.on('readable', onReadable)
  socket.on('error', onGone)
  socket.on('end', onGone)
}

/**
 * Makes `header`'s client the socket's peer. Own properties shadow net.Socket's getters,
 * so every reader of `socket.remoteAddress` (the request context, logs) sees the client
 * without knowing the protocol exists, and the hit path pays nothing for it.
 */
function setPeer(socket: Socket, header: { address: string; port: number; family: string }): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: header.address, configurable: true },
    remotePort: { value: header.port, configurable: true },
    remoteFamily: { value: header.family, configurable: true },
  })
}
