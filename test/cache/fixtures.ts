/**
 * Shared fixtures for the cache engine's conformance tables: fixed instants, the engine
 * options edgecache runs with by default, and a stored response built the way the cache
 * stage builds one (through `admit`). No clock: every instant is a fixed epoch ms.
 */
import assert from 'node:assert/strict'
import { type AdmissionOptions, admit } from '../../src/cache/admission.ts'
import type { FieldValue } from '../../src/cache/cache-control.ts'
import { type RequestDirectives, parseRequestDirectives } from '../../src/cache/request-directives.ts'
import type { StoredResponse } from '../../src/cache/stored-response.ts'

/** 2023-11-14T22:13:20Z: a whole second, so it survives a round trip through an HTTP-date. */
export const T0 = 1_700_000_000_000
export const SECOND = 1000
export const MINUTE = 60 * SECOND
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/** IMF-fixdate of `ms` (epoch ms). */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString()
}

export const TARGETS = ['edgecache-cache-control', 'cdn-cache-control'] as const

export const OPTIONS: AdmissionOptions = {
  heuristicFraction: 0.1,
  maxHeuristicTtlMs: DAY,
  targetedFields: TARGETS,
  storeSetCookie: false,
}

export type Headers = Readonly<Record<string, FieldValue>>

/** The request directives of a request with these Cache-Control and Pragma fields. */
export function requestWith(cacheControl?: FieldValue, pragma?: FieldValue): RequestDirectives {
  return parseRequestDirectives(cacheControl, pragma)
}

export interface Fetched {
  readonly status?: number
  readonly headers: Headers
  /** When the request went upstream. @default T0 */
  readonly requestTime?: number
  /** When the response arrived. @default requestTime */
  readonly responseTime?: number
}

/**
 * A response admitted into the cache as the stage admits one. `Date: T0` is added unless
 * the headers say otherwise (pass `date: undefined` for none).
 */
export function storedFrom(fetched: Fetched, options: AdmissionOptions = OPTIONS): StoredResponse {
  const requestTime = fetched.requestTime ?? T0
  const admission = admit(
    {
      status: fetched.status ?? 200,
      headers: { date: httpDate(T0), ...fetched.headers },
      requestTime,
      responseTime: fetched.responseTime ?? requestTime,
    },
    { directives: requestWith(), hasAuthorization: false },
    0,
    options,
  )
  assert.ok(admission.storable, `fixture not storable: ${admission.storable ? '' : admission.reason}`)
  return admission.response
}
