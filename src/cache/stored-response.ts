/**
 * The engine's picture of a stored response, and its encoding as the store's metadata
 * record. Everything a hit needs is computed when the response is stored, so a hit parses
 * nothing. Pure: no I/O, no clock.
 */
import type { StoredParts } from './parts.ts'

/** Response header fields as stored and sent, names lowercased. */
export type StoredHeaders = Readonly<Record<string, string | readonly string[]>>

/** What RFC 9111 §4.2 and RFC 5861 say of a response's freshness, worked out once when it is stored. */
export interface Freshness {
  /** RFC 9111 §4.2.3 corrected_initial_age, in ms. */
  readonly initialAgeMs: number
  /** RFC 9111 §4.2.1 freshness lifetime, in ms. */
  readonly lifetimeMs: number
  /** True when the lifetime is heuristic (RFC 9111 §4.2.2). */
  readonly heuristic: boolean
  /** RFC 5861 windows, in ms past staleness. */
  readonly staleWhileRevalidateMs: number
  readonly staleIfErrorMs: number
  /** must-revalidate, proxy-revalidate or s-maxage: never served stale (RFC 9111 §5.2.2.2, .8, .10). */
  readonly mustRevalidate: boolean
  /** Unqualified no-cache (true), the fields a qualified no-cache names, or false. */
  readonly noCache: true | readonly string[] | false
}

export interface StoredResponse extends Freshness {
  readonly status: number
  /** Fields sent to clients on a hit (hop-by-hop, targeted and Age fields removed). */
  readonly headers: StoredHeaders
  /** Epoch ms the request that fetched it went upstream. */
  readonly requestTime: number
  /** Epoch ms its header section arrived. */
  readonly responseTime: number
  /** Value of the RFC 9213 targeted field that governed, kept to recompute after a 304. */
  readonly targeted: string | undefined
  /** Selecting header fields (Vary), lowercased and sorted; undefined without Vary. */
  readonly vary: readonly string[] | undefined
  readonly bodyLength: number
}

/** A record that tells the stage which variant key to read for a URL that has Vary. */
export interface VaryMarker {
  readonly fields: readonly string[]
  /** Changes whenever the marker is replaced, so variants stored under an older one are unreachable. */
  readonly id: string
}

const VERSION = 1

/**
 * The parts of one representation stored in one entry (RFC 9111 §3.4, parts.ts): the newest
 * part's response (status 206; header fields without Content-Range and Content-Length,
 * which belong to each answer) and which byte ranges the entry's body holds.
 */
export interface StoredPartial {
  readonly response: StoredResponse
  readonly parts: StoredParts
}

export function responseToMeta(response: StoredResponse): Readonly<Record<string, unknown>> {
  return { v: VERSION, kind: 'response', ...response }
}

export function partsToMeta(partial: StoredPartial): Readonly<Record<string, unknown>> {
  return { v: VERSION, kind: 'parts', ...partial.response, parts: partial.parts }
}

export function markerToMeta(marker: VaryMarker): Readonly<Record<string, unknown>> {
  return { v: VERSION, kind: 'vary', fields: marker.fields, id: marker.id }
}

export type DecodedMeta =
  | { readonly kind: 'response'; readonly response: StoredResponse }
  | { readonly kind: 'vary'; readonly marker: VaryMarker }
  | { readonly kind: 'parts'; readonly partial: StoredPartial }

/**
 * Decodes a store's metadata record; undefined when it is from another version or not
 * edgecache's (a store shared across upgrades may hold older records: they count as misses).
 */
export function decodeMeta(meta: Readonly<Record<string, unknown>>): DecodedMeta | undefined {
  if (meta.v !== VERSION) return undefined
  if (meta.kind === 'response' && typeof meta.status === 'number' && typeof meta.headers === 'object') {
    return { kind: 'response', response: meta as unknown as StoredResponse }
  }
  if (meta.kind === 'parts' && typeof meta.status === 'number' && isParts(meta.parts)) {
    const { parts, ...response } = meta
    return { kind: 'parts', partial: { response: response as unknown as StoredResponse, parts } }
  }
  if (meta.kind === 'vary' && Array.isArray(meta.fields) && typeof meta.id === 'string') {
    return { kind: 'vary', marker: { fields: meta.fields as string[], id: meta.id } }
  }
  return undefined
}

function isParts(value: unknown): value is StoredParts {
  const p = value as Partial<StoredParts> | undefined
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.validator === 'string' &&
    typeof p.length === 'number' &&
    Array.isArray(p.ranges)
  )
}
