/**
 * Request ids for the public listener: the client's `X-Request-Id` when it is well-formed,
 * otherwise one made here. Knows nothing of the request beyond that one field.
 *
 * A made id is a random per-process prefix and a counter (`3f9a1c0b7d2e-1kz`), not a UUID:
 * it draws no randomness per request, which matters on the cache-hit path, and the 48-bit
 * prefix keeps workers and restarts from repeating each other's ids.
 */
import { randomBytes } from 'node:crypto'

/** What a client may send as its own id: 1–128 characters of `[A-Za-z0-9._:-]`. */
const wellFormed = /^[A-Za-z0-9._:-]{1,128}$/

const prefix = randomBytes(6).toString('hex')
let counter = 0

/** A fresh id, unique within this process and, by its random prefix, across processes. */
export function nextRequestId(): string {
  counter += 1
  return `${prefix}-${counter.toString(36)}`
}

/**
 * The id for a request: `field` (the `X-Request-Id` value) when well-formed, else a fresh
 * one. Repeated fields arrive joined with `, `, which is not well-formed, so they are replaced.
 */
export function requestIdOf(field: string | string[] | undefined): string {
  return typeof field === 'string' && wellFormed.test(field) ? field : nextRequestId()
}
