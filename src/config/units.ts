/**
 * Parses the human units config files use: sizes such as `"256MiB"` into bytes and
 * durations such as `"30s"` into milliseconds. Pure: no I/O, and no knowledge of fields.
 */

/** Bytes per size unit. KB, MB, GB and TB are decimal; KiB, MiB, GiB and TiB are binary. */
const sizeUnits: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1e3,
  kB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
}

/** Milliseconds per duration unit. */
const durationUnits: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

const sizePattern = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/
const durationPart = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y

/**
 * Parses a size into a whole number of bytes: `"512"` or `"512B"` (bytes), `"64KiB"`,
 * `"256MiB"`, `"1GB"`. Returns undefined when `text` is not a size or is not a whole
 * number of bytes (`"1.5B"`).
 *
 * @example parseSize('8KiB') // 8192
 */
export function parseSize(text: string): number | undefined {
  const match = sizePattern.exec(text.trim())
  if (match === null) return undefined
  const [, amount = '', unit = ''] = match
  const factor = unit === '' ? 1 : sizeUnits[unit]
  if (factor === undefined) return undefined
  return wholeNumber(Number(amount) * factor)
}

/**
 * Parses a duration into a whole number of milliseconds: `"500ms"`, `"30s"`, `"10m"`,
 * `"1h"`, `"1d"`, `"0s"`, or several parts in a row as in `"1h30m"`. A unit is required,
 * so a bare `"30"` is not a duration. Returns undefined for anything else.
 *
 * @example parseDuration('1m30s') // 90000
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim()
  if (trimmed === '') return undefined
  let total = 0
  durationPart.lastIndex = 0
  while (durationPart.lastIndex < trimmed.length) {
    const match = durationPart.exec(trimmed)
    if (match === null) return undefined
    const [, amount = '', unit = ''] = match
    total += Number(amount) * (durationUnits[unit] ?? Number.NaN)
  }
  return wholeNumber(total)
}

function wholeNumber(value: number): number | undefined {
  // Floating point can land a hair off a whole number ("1.005s" is 1004.9999999999999 ms).
  const rounded = Math.round(value)
  if (!Number.isSafeInteger(rounded) || Math.abs(value - rounded) > 1e-6) return undefined
  return rounded
}

/**
 * Writes milliseconds as a duration `parseDuration` reads back, largest units first:
 * `5400000` → `"1h30m"`, `0` → `"0s"`.
 *
 * @example formatDuration(90_000) // '1m30s'
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  let rest = ms
  let text = ''
  for (const [unit, size] of Object.entries(durationUnits).reverse()) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`
      rest %= size
    }
  }
  return text
}
