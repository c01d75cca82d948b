/**
 * RFC 9213 targeted cache-control fields (`CDN-Cache-Control`, edgecache's own
 * `Edgecache-Cache-Control`): Structured Field Dictionaries (RFC 9651 §3.2), not the
 * looser Cache-Control syntax. A value that does not parse, or whose known member has the
 * wrong type, is invalid as a whole and the field is ignored (RFC 9213 §2.1). Pure.
 */
import { parseDictionary, Token } from 'structured-headers'
import type { Directives, FieldValue } from './cache-control.ts'

/** Members whose value is a number of seconds: an Integer, not negative. */
const SECONDS = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error'])
/** Members that are on or off: a Boolean (a bare key is true). */
const FLAGS = new Set([
  'no-store',
  'public',
  'must-revalidate',
  'proxy-revalidate',
  'must-understand',
  'no-transform',
  'immutable',
])
/** Members that are a Boolean, or a String listing field names (RFC 9111 §5.2.2.4, §5.2.2.7). */
const FLAGS_OR_FIELDS = new Set(['no-cache', 'private'])

/**
 * The directives of a targeted field as Cache-Control directives, or undefined when the
 * field is absent, invalid, or has no member in force (then the next target, or
 * Cache-Control, governs).
 */
export function targetedDirectives(value: FieldValue): Directives | undefined {
  if (value === undefined) return undefined
  // Several lines make one Dictionary (RFC 9651 §3.2: combined with commas).
  const text = typeof value === 'string' ? value : value.join(', ')
  let dictionary: ReturnType<typeof parseDictionary>
  try {
    dictionary = parseDictionary(text)
  } catch {
    return undefined
  }
  const directives = new Map<string, string | true>()
  for (const [name, member] of dictionary) {
    const item = member[0]
    if (Array.isArray(item)) {
      // An Inner List fits no directive edgecache knows; an unknown one is ignored.
      if (SECONDS.has(name) || FLAGS.has(name) || FLAGS_OR_FIELDS.has(name)) return undefined
      continue
    }
    if (SECONDS.has(name)) {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < 0) return undefined
      directives.set(name, String(item))
    } else if (FLAGS.has(name)) {
      if (typeof item !== 'boolean') return undefined
      if (item) directives.set(name, true)
    } else if (FLAGS_OR_FIELDS.has(name)) {
      if (typeof item === 'string') directives.set(name, item)
      else if (typeof item !== 'boolean') return undefined
      else if (item) directives.set(name, true)
    } else if (item !== false) {
      // An extension directive: kept as Cache-Control would keep it.
      directives.set(name, item === true ? true : item instanceof Token ? item.toString() : String(item))
    }
  }
  return directives.size > 0 ? directives : undefined
}
