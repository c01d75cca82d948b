/**
 * Tells a request which connection undici wrote it on, and whether that connection had
 * carried a request before (a kept-alive one, reused). upstream.ts replays a request that
 * failed on a reused connection before any response byte: that failure is the keep-alive
 * race (the backend closed an idle connection as the request went out), not a backend
 * failing. undici's handler interface does not say which connection a request went out on;
 * its `undici:client:sendHeaders` diagnostics channel does, with the socket itself.
 *
 * undici writes the request synchronously after calling the handler's `onRequestStart`,
 * and publishes on the channel as it does: so the request announced last (`expectSend`) is
 * the one the next message is about. Only undici's HTTP/1.1 client publishes it that way,
 * which is all upstream.ts uses. Requests of other undici clients in the process (none
 * announced) pass through with nothing to do but a WeakSet lookup.
 */
import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'

/** What gets told, once, which socket its request was written on. */
export interface SendWatcher {
  /** `reused`: the socket carried a request before this one. */
  onSent(socket: Socket, reused: boolean): void
}

/** Sockets that have carried a request; weak, so a closed connection is forgotten. */
const used = new WeakSet<Socket>()
let announced: SendWatcher | undefined

/** Call from `onRequestStart`: the next request undici writes is `watcher`'s. */
export function expectSend(watcher: SendWatcher): void {
  announced = watcher
}

subscribe('undici:client:sendHeaders', (message) => {
  const watcher = announced
  announced = undefined
  const socket = (message as { socket?: Socket }).socket
  if (socket === undefined) return
  const reused = used.has(socket)
  if (!reused) used.add(socket)
  watcher?.onSent(socket, reused)
})
