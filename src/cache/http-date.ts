/** Parses HTTP dates (RFC 9110 §5.6.7). Pure. */

/** Epoch ms of an HTTP-date, or undefined when absent or invalid. */
export function parseHttpDate(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined
  const text = typeof value === 'string' ? value : value[0]
  if (text === undefined || text.length === 0) return undefined
  // Date.parse accepts IMF-fixdate, the obsolete RFC 850 and asctime forms, and more;
  // a bare number is not a date here (Expires: 0 must count as invalid, RFC 9111 §5.3).
  if (/^\s*-?\d+\s*$/.test(text)) return undefined
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? undefined : ms
}

/** IMF-fixdate of `ms`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
