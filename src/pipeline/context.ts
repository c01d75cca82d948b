/**
 * The request as the pipeline sees it. The server builds one per request; stages read it,
 * may derive a changed copy for the upstream (`forwardOf`), and record what happened in
 * `facts`, which logs and metrics read when the request ends. Knows nothing of sockets.
 */
import type { Readable } from 'node:stream'
import { type CachePolicy, defaultPolicy, type RouteMatch } from '../router/route.ts'

/** Request header fields, names lowercased, as node:http and undici give them. */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>

/** How the cache answered, for logs and metrics (Cache-Status says it to the client). */
export type CacheOutcome = 'hit' | 'stale' | 'miss' | 'revalidated' | 'bypass' | 'pass'

/**
 * How an Upgrade request ended (server/upgrade.ts): its tunnel closed, by either side
 * (`closed`), for want of traffic (`idle_timeout`), by a reset (`error`) or by shutdown; or
 * no tunnel opened: too many were open (`over_limit`), the backend answered without
 * switching protocols (`backend_declined`) or could not be reached (`failed`), or edgecache
 * refused the request (`refused`: a request rule, a rate limit, a bad request, shutdown).
 */
export type TunnelOutcome =
  | 'closed'
  | 'idle_timeout'
  | 'error'
  | 'shutdown'
  | 'over_limit'
  | 'backend_declined'
  | 'failed'
  | 'refused'

/** What the stages learnt while handling a request; shared by every context derived from it. */
export interface RequestFacts {
  route: string
  /** Tags the route gives every response it stores (surrogate keys). */
  tags: readonly string[]
  /** The cache policy of the request's route. */
  policy: CachePolicy
  /** The pool the request's route names; undefined: the default pool. */
  upstream: string | undefined
  /** The matched route, for the stages that need more than its policy (rate limits, rules). */
  match: RouteMatch | undefined
  /** A request rule with action allow matched: no further rules run. */
  rulesAllowed: boolean
  /** Tags request rules gave the request (and `deny:<rule>` for a denial), for its access line. */
  ruleTags: readonly string[]
  cache: CacheOutcome | undefined
  upstreamStatus: number | undefined
  upstreamMs: number | undefined
  collapsed: boolean
  /** Cache-Status for an answer the error boundary builds, set by the cache stage. */
  cacheStatus: string | undefined
  /**
   * An Upgrade request's end, the bytes its client sent through the tunnel, and the ms
   * from its arrival to the 101 (undefined when no tunnel opened).
   */
  tunnel:
    | { readonly outcome: TunnelOutcome; readonly bytesIn: number; readonly handshakeMs: number | undefined }
    | undefined
}

export interface RequestContext {
  /** Request id: the client's `X-Request-Id` when well-formed, else generated. */
  readonly id: string
  /** Upper-case method. */
  readonly method: string
  readonly scheme: 'http' | 'https'
  /** Host (and port, if given) as the client sent it, lowercased. */
  readonly host: string
  /** Origin-form target: path and query as received. */
  readonly target: string
  /** The request's HTTP version: `1.1`, `1.0`, `2.0`. */
  readonly httpVersion: string
  /** The client's header fields; the upstream strips hop-by-hop fields when forwarding. */
  readonly headers: HeaderMap
  /** Address of the connected peer. */
  readonly clientAddress: string
  /**
   * The subject of the client's TLS certificate when the TLS listener verified one against
   * `tls.clientCa` (RFC 4514 order); undefined otherwise, and on the plain listeners.
   */
  readonly clientSubject?: string | undefined
  /**
   * The request body, when the request has one: the client's stream as the server gives it,
   * or, once the upstream stage has read it whole (`server.requestBuffering`), a Buffer.
   */
  readonly body: Readable | Buffer | undefined
  /** Epoch ms at which the request arrived. */
  readonly receivedAt: number
  /** Aborted when the client goes away (or, for background work, never). */
  readonly signal: AbortSignal
  /**
   * Passes an interim response (RFC 9110 §15.2: 102, 103) from the origin on to the client
   * before the answer; called as `ctx.interim?.(status, headers)`. Undefined where none may
   * go: background work, and HTTP/1.0 clients, which know no 1xx.
   */
  readonly interim?: ((this: RequestContext, status: number, headers: HeaderMap) => void) | undefined
  readonly facts: RequestFacts
}

export function createFacts(): RequestFacts {
  return {
    route: 'default',
    tags: [],
    policy: defaultPolicy,
    upstream: undefined,
    match: undefined,
    rulesAllowed: false,
    ruleTags: [],
    cache: undefined,
    upstreamStatus: undefined,
    upstreamMs: undefined,
    collapsed: false,
    cacheStatus: undefined,
    tunnel: undefined,
  }
}

/**
 * A copy of `ctx` to send upstream with another method or other header fields. The
 * server's contexts make `signal` on first read (a getter the spread would not copy), so it
 * is read here: whatever is forwarded needs one.
 */
export function forwardOf(
  ctx: RequestContext,
  changes: {
    method?: string
    headers?: HeaderMap
    body?: Readable | Buffer | undefined
    signal?: AbortSignal
  },
): RequestContext {
  return { ...ctx, ...changes, signal: changes.signal ?? ctx.signal }
}
