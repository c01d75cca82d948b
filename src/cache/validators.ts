/** Reading validators off header fields (RFC 9110 §8.8). Pure. */
import { parseHttpDate } from './http-date.ts'

/** The first line of a field that may arrive as several. */
export function firstValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0]
}

/**
 * Whether the stored fields carry a validator the origin can check (RFC 9110 §8.8): an
 * ETag, or a Last-Modified that is a valid HTTP-date (an invalid one is no validator).
 */
export function hasValidatorFields(headers: {
  readonly etag?: string | readonly string[] | undefined
  readonly 'last-modified'?: string | readonly string[] | undefined
}): boolean {
  return headers.etag !== undefined || parseHttpDate(headers['last-modified']) !== undefined
}

/** An entity tag ready for weak comparison (RFC 9110 §8.8.3.2): trimmed, W/ prefix dropped. */
export function weakTag(etag: string): string {
  const t = etag.trim()
  return t.startsWith('W/') ? t.slice(2) : t
}
