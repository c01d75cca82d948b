/** Reading validators off header fields (RFC 9110 §8.8). Pure. */

/** The first line of a field that may arrive as several. */
export function firstValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0]
}

/** An entity tag ready for weak comparison (RFC 9110 §8.8.3.2): trimmed, W/ prefix dropped. */
export function weakTag(etag: string): string {
  const t = etag.trim()
  return t.startsWith('W/') ? t.slice(2) : t
}
