/** Parses HTTP dates (RFC 9110 §5.6.7). Pure. */

/** asctime-date (RFC 9110 §5.6.7), e.g. `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = /^\s*[A-Za-z]{3} +[A-Za-z]{3} +\d{1,2} +\d{2}:\d{2}:\d{2} +\d{4}\s*$/

/** Epoch ms of an HTTP-date, or undefined when absent or invalid. */
export function parseHttpDate(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined
  const text = typeof value === 'string' ? value : value[0]
  if (text === undefined || text.length === 0) return undefined
  // Date.parse accepts IMF-fixdate, the obsolete RFC 850 and asctime forms, and more;
  // a bare number is not a date here (Expires: 0 must count as invalid, RFC 9111 §5.3).
  if (/^\s*-?\d+\s*$/.test(text)) return undefined
  // asctime carries no zone and Date.parse would read it as local time; every HTTP-date is GMT.
  const ms = Date.parse(ASCTIME.test(text) ? `${text} GMT` : text)
  return Number.isNaN(ms) ? undefined : ms
}

/** IMF-fixdate of `ms`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
