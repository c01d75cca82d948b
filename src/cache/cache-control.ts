/**
 * Parses Cache-Control style fields (RFC 9111 §5.2) into directives. Pure: no I/O, no clock.
 * Also picks the field that governs a response when RFC 9213 targeted fields are present.
 */
import { targetedDirectives } from './targeted.ts'

/** A field's value as node:http and undici give it: one line, several, or none. */
export type FieldValue = string | readonly string[] | undefined

/** Directive name (lowercased) → argument, or `true` when it has none. */
export type Directives = ReadonlyMap<string, string | true>

const EMPTY: Directives = new Map()

/**
 * Parses `value` into directives. Names are case-insensitive (RFC 9111 §5.2); quoted
 * arguments are unquoted. When a directive appears twice the first occurrence is used
 * (RFC 9111 §4.2.1 allows that or treating the response as stale).
 */
export function parseCacheControl(value: FieldValue): Directives {
  if (value === undefined) return EMPTY
  const text = typeof value === 'string' ? value : value.join(',')
  if (text.length === 0) return EMPTY
  const directives = new Map<string, string | true>()
  let i = 0
  const n = text.length
  while (i < n) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++
    const nameStart = i
    while (i < n && text[i] !== '=' && text[i] !== ',') i++
    const name = text.slice(nameStart, i).trim().toLowerCase()
    let arg: string | true = true
    if (i < n && text[i] === '=') {
      i++
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++
      if (text[i] === '"') {
        // quoted-string: backslash escapes one character
        i++
        let quoted = ''
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++
          quoted += text[i]
          i++
        }
        i++
        arg = quoted
        while (i < n && text[i] !== ',') i++
      } else {
        const argStart = i
        while (i < n && text[i] !== ',') i++
        arg = text.slice(argStart, i).trim()
      }
    }
    if (name.length > 0 && !directives.has(name)) directives.set(name, arg)
  }
  return directives
}

/**
 * A delta-seconds argument (RFC 9111 §1.2.2) in seconds, or undefined when absent or
 * invalid. Values too large to represent are capped at 2^31 seconds as §1.2.2 advises.
 */
export function deltaSeconds(directives: Directives, name: string): number | undefined {
  const arg = directives.get(name)
  if (arg === undefined || arg === true) return undefined
  if (!/^\d+$/.test(arg)) return undefined
  const seconds = Number(arg)
  return Math.min(seconds, 2147483648)
}

/**
 * The field names listed in a qualified `no-cache` or `private` (RFC 9111 §5.2.2.4,
 * §5.2.2.7), lowercased; `true` when the directive is unqualified; undefined when absent.
 */
export function qualifiedFields(directives: Directives, name: string): true | readonly string[] | undefined {
  const arg = directives.get(name)
  if (arg === undefined) return undefined
  if (arg === true || arg.trim() === '') return true
  return arg
    .split(',')
    .map((f) => f.trim().toLowerCase())
    .filter((f) => f.length > 0)
}

/**
 * RFC 9213 §2.1: a cache with a target list uses the first listed field that has a valid,
 * non-empty value and then ignores Cache-Control and Expires. `targets` is edgecache's own
 * field first, then `cdn-cache-control`.
 */
export function governingDirectives(
  headers: Readonly<Record<string, FieldValue>>,
  targets: readonly string[],
): { directives: Directives; targeted: boolean } {
  for (const field of targets) {
    const directives = targetedDirectives(headers[field])
    if (directives !== undefined) return { directives, targeted: true }
  }
  return { directives: parseCacheControl(headers['cache-control']), targeted: false }
}
