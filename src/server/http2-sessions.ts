/**
 * What edgecache adds to node:http2's own guards for each HTTP/2 connection (session):
 * a client that cancels more streams than `maxClientResets` in 10 s is told
 * ENHANCE_YOUR_CALM and cut off (the rapid reset attack, CVE-2023-44487, costs the server
 * the work each cancelled request started, which nghttp2's frame-rate limit alone does not
 * see), an idle session is closed after the keep-alive timeout, and shutdown can end every
 * session. Knows nothing of requests beyond "this stream was cancelled".
 */
import { constants, type Http2Session, type ServerHttp2Session } from 'node:http2'
import type { Clock } from '../clock.ts'

/** HTTP/2 limits of a listener. */
export interface Http2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: nghttp2 refuses streams past it. */
  readonly maxConcurrentStreams: number
  /** Streams a session may cancel within `resetWindowMs` before it is closed. */
  readonly maxClientResets: number
}

/** The window cancelled streams are counted in. */
export const resetWindowMs = 10_000

interface SessionState {
  windowStart: number
  resets: number
  /** Streams open now: an idle timeout only closes a session with none. */
  open: number
}

export interface SessionGuard {
  /** For the server's 'session' event. */
  session(session: ServerHttp2Session): void
  /** Ends every session now (shutdown past its bound). */
  destroyAll(): void
}

export interface SessionGuardOptions extends Http2Limits {
  /** An idle session (no stream open) is closed after this long; 0 keeps it. */
  readonly idleTimeoutMs: number
  readonly clock: Clock
  readonly log: { warn(obj: object, msg: string): void }
  /** Told each time a session is closed for too many cancelled streams. */
  readonly onRapidReset?: () => void
}

/**
 * @example
 * const guard = guardSessions({ maxConcurrentStreams: 100, maxClientResets: 200, idleTimeoutMs: 5000, clock, log })
 * server.on('session', guard.session)
 */
export function guardSessions(options: SessionGuardOptions): SessionGuard {
  const { clock, log, maxClientResets, idleTimeoutMs } = options
  const sessions = new Map<Http2Session, SessionState>()
  /** A stream of `session` was cancelled by the client before its response ended. */
  const cancelled = (session: ServerHttp2Session, state: SessionState) => {
    if (session.destroyed) return
    const now = clock.now()
    if (now - state.windowStart > resetWindowMs) {
      state.windowStart = now
      state.resets = 0
    }
    state.resets++
    if (state.resets > maxClientResets) {
      log.warn(
        { remoteAddress: session.socket?.remoteAddress, resets: state.resets, windowMs: resetWindowMs },
        'http2 connection closed: too many cancelled streams',
      )
      options.onRapidReset?.()
      sessions.delete(session)
      // destroy()'s own GOAWAY says NO_ERROR whatever code it is given; this one says why.
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM)
      session.destroy()
    }
  }
  return {
    session(session) {
      const state: SessionState = { windowStart: clock.now(), resets: 0, open: 0 }
      sessions.set(session, state)
      session.on('stream', (stream) => {
        state.open++
        stream.once('close', () => {
          state.open--
        })
        // node emits 'aborted' for a stream the peer reset before its response was ended.
        stream.once('aborted', () => cancelled(session, state))
      })
      if (idleTimeoutMs > 0) {
        // node's session timeout counts any frame as activity; a slow response keeps its session.
        session.setTimeout(idleTimeoutMs, () => {
          if (state.open === 0) session.close()
        })
      }
      session.once('close', () => sessions.delete(session))
    },
    destroyAll() {
      for (const session of sessions.keys()) session.destroy()
      sessions.clear()
    },
  }
}
