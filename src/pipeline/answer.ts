/**
 * What a stage returns instead of writing to a socket: status, header fields and a body.
 * Only the server writes an Answer to the client, so stages can be tested without one.
 */
import type { Duplex, Readable } from 'node:stream'

/** Response header fields, names lowercased. */
export type ResponseHeaders = Record<string, string | string[]>

export interface Answer {
  status: number
  /**
   * This answer's own object, never shared with another answer or a stored response: the
   * stages after and the server add fields to it in place rather than copy it per request.
   */
  headers: ResponseHeaders
  /**
   * The stored response's fields that `headers` was copied from, on an answer from the
   * cache: the server writes those still in `headers` unchanged as one block prepared once
   * per stored response (server/prepared-head.ts). Never changed: stages change `headers`.
   */
  storedFields?: Readonly<Record<string, string | readonly string[]>>
  /** A whole body, a stream, or nothing (HEAD, 304, 204). */
  body: Buffer | Readable | undefined
  /** Surrogate keys the surrogate stage found; the cache stage stores them with the response. */
  tags?: readonly string[]
  /**
   * The backend's connection after it switched protocols (status 101, an Upgrade request):
   * the server joins it to the client's. Only the upgrade stage sets it.
   */
  upgrade?: Duplex
}

/**
 * A refusal or error made by edgecache, worded as every one is: the status, the reason and
 * the request id (which the client can quote, and the logs carry).
 */
export function refusalAnswer(
  id: string,
  status: number,
  reason: string,
  headers: ResponseHeaders = {},
): Answer {
  return textAnswer(status, `${status} ${reason} (request id ${id})`, headers)
}

/** A short text answer, for errors and refusals. */
export function textAnswer(status: number, text: string, headers: ResponseHeaders = {}): Answer {
  const body = Buffer.from(`${text}\n`)
  return {
    status,
    headers: {
      ...headers,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
    },
    body,
  }
}
