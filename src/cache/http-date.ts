/**
 * Parses HTTP dates (RFC 9110 §5.6.7) strictly: the three forms the grammar allows and
 * nothing else, so a malformed date is invalid rather than guessed at. Pure.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']

const month = `(${MONTHS.join('|')})`
const time = '(\\d{2}):(\\d{2}):(\\d{2})'
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^(${DAYS.join('|')}), (\\d{2}) ${month} (\\d{4}) ${time} GMT$`)
/** rfc850-date, obsolete: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850 = new RegExp(`^(${LONG_DAYS.join('|')}), (\\d{2})-${month}-(\\d{2}) ${time} GMT$`)
/** asctime-date, obsolete: `Sun Nov  6 08:49:37 1994` (day: two digits, or a space and one). */
const ASCTIME = new RegExp(`^(${DAYS.join('|')}) ${month} (\\d{2}| \\d) ${time} (\\d{4})$`)

/**
 * Epoch ms of an HTTP-date, or undefined when absent or invalid. A field sent on several
 * lines is invalid: it holds no one date. What invalid means is the caller's to say: an
 * Expires already past (RFC 9111 §5.3), an If-Modified-Since ignored (RFC 9110 §13.1.3), a
 * Last-Modified that is no validator.
 */
export function parseHttpDate(
  value: string | readonly string[] | undefined,
  now = Date.now(),
): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' && value.length !== 1) return undefined
  // Optional whitespace around a field value is not part of it (RFC 9110 §5.5).
  const text = (typeof value === 'string' ? value : (value[0] ?? '')).trim()
  let m = IMF_FIXDATE.exec(text)
  if (m !== null) return utc(Number(m[4]), m[3], m[2], m[5], m[6], m[7])
  m = RFC850.exec(text)
  if (m !== null) {
    return utc(fullYear(Number(m[4]), now), m[3], m[2], m[5], m[6], m[7])
  }
  m = ASCTIME.exec(text)
  if (m !== null) return utc(Number(m[7]), m[2], m[3], m[4], m[5], m[6])
  return undefined
}

/**
 * RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent
 * past year with the same last two digits.
 */
function fullYear(twoDigits: number, now: number): number {
  const thisYear = new Date(now).getUTCFullYear()
  let year = thisYear - (thisYear % 100) + twoDigits
  if (year > thisYear + 50) year -= 100
  return year
}

/**
 * The instant, or undefined when a part is out of range. The day name is not checked
 * against the date: the grammar asks for one, not that senders get it right.
 */
function utc(
  year: number,
  monthName: string | undefined,
  day: string | undefined,
  hour: string | undefined,
  minute: string | undefined,
  second: string | undefined,
): number | undefined {
  const monthIndex = MONTHS.indexOf(monthName ?? '')
  const [d, h, min, s] = [day, hour, minute, second].map((part) => Number(part?.trim()))
  if (d === undefined || h === undefined || min === undefined || s === undefined) return undefined
  // A leap second (60) is allowed by the grammar; it reads as the next second.
  if (d < 1 || d > 31 || h > 23 || min > 59 || s > 60) return undefined
  const ms = Date.UTC(year, monthIndex, d, h, min, s)
  const date = new Date(ms)
  // 31 Feb rolls over into March: not a date.
  if (date.getUTCDate() !== d && s !== 60) return undefined
  return ms
}

/** IMF-fixdate of `ms`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString()
}
