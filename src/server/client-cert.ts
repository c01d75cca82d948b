/**
 * The subject of a client's verified certificate (mTLS), as one line for a request field:
 * RFC 4514 order (most specific first, `CN=client,O=Example,C=GB`). Read once per
 * connection, whatever the number of requests on it. Knows nothing of routes or upstreams.
 */
import type { TLSSocket } from 'node:tls'

const subjects = new WeakMap<TLSSocket, string | null>()

/**
 * The verified subject, or undefined when the client sent no certificate or one that does
 * not chain to the listener's client CAs (`authorized` false): only a verified one counts.
 */
export function verifiedSubjectOf(socket: TLSSocket): string | undefined {
  let subject = subjects.get(socket)
  if (subject === undefined) {
    subject = socket.authorized ? subjectLine(socket) : null
    subjects.set(socket, subject)
  }
  return subject ?? undefined
}

function subjectLine(socket: TLSSocket): string | null {
  const cert = socket.getPeerX509Certificate()
  if (cert === undefined) return null
  // node gives one attribute a line, least specific first, already escaped as RFC 2253 asks.
  return cert.subject.split('\n').reverse().map(printable).join(',')
}

/** A field value carries visible ASCII only: other bytes as RFC 4514's `\XX` hex escapes. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (char) =>
    [...Buffer.from(char, 'utf8')]
      .map((byte) => `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`)
      .join(''),
  )
}
