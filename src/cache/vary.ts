/**
 * Vary (RFC 9111 §4.1): which request fields select a stored response, and the normalised
 * values a request has for them. Pure.
 */
import type { FieldValue } from './cache-control.ts'

/** Selecting field names, lowercased, deduplicated and sorted; '*' for Vary: *; undefined without Vary. */
export function parseVary(value: FieldValue): readonly string[] | '*' | undefined {
  if (value === undefined) return undefined
  const text = typeof value === 'string' ? value : value.join(',')
  const fields = new Set<string>()
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase()
    if (name === '*') return '*'
    if (name.length > 0) fields.add(name)
  }
  return fields.size === 0 ? undefined : [...fields].sort()
}

/**
 * A caller's own reading of a selecting field: the value the request's fields stand for.
 * The compression hook reads Accept-Encoding as the one coding it selects, so requests that
 * select the same coding share one stored variant (RFC 9111 §4.1 lets a cache normalise).
 */
export type FieldSelector = (headers: Readonly<Record<string, FieldValue>>) => string

/**
 * The request's values for `fields`, normalised (RFC 9111 §4.1 allows folding whitespace
 * and combining field lines). An absent field differs from an empty one: an absent field
 * only matches another request where it is absent. A field in `selectors` is read by its
 * selector instead.
 */
export function variantOf(
  fields: readonly string[],
  headers: Readonly<Record<string, FieldValue>>,
  selectors?: Readonly<Record<string, FieldSelector>>,
): string {
  let out = ''
  for (const field of fields) {
    const select = selectors?.[field]
    if (select !== undefined) {
      out += `=${select(headers)}\n`
      continue
    }
    const value = headers[field]
    if (value === undefined) {
      out += '\n'
      continue
    }
    const text = typeof value === 'string' ? value : value.join(', ')
    const folded = text
      .trim()
      .replace(/\s*([,;=])\s*/g, '$1')
      .replace(/\s+/g, ' ')
    out += `=${normalisers[field]?.(folded) ?? folded}\n`
  }
  return out
}

/**
 * What a field's grammar allows besides whitespace and line folding (RFC 9111 §4.1): its
 * tokens, language tags, charsets and media types are case-insensitive (RFC 9110 §8.3.1,
 * §12.5; RFC 5646 §2.1.1), and Accept-Encoding's members are a set weighted by q, in no
 * order (RFC 9110 §12.5.3). Accept-Language and Accept keep their order: with equal
 * weights, some servers read it as a preference.
 */
const normalisers: Readonly<Record<string, (value: string) => string>> = {
  'accept-encoding': (value) =>
    value
      .toLowerCase()
      .split(',')
      .filter((member) => member !== '')
      .sort()
      .join(','),
  'accept-language': (value) => value.toLowerCase(),
  'accept-charset': (value) => value.toLowerCase(),
  accept: (value) => value.toLowerCase(),
}
