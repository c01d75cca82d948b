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
 * The request's values for `fields`, normalised (RFC 9111 §4.1 allows folding whitespace
 * and combining field lines). An absent field differs from an empty one: an absent field
 * only matches another request where it is absent.
 */
export function variantOf(fields: readonly string[], headers: Readonly<Record<string, FieldValue>>): string {
  let out = ''
  for (const field of fields) {
    const value = headers[field]
    if (value === undefined) {
      out += '\n'
      continue
    }
    const text = typeof value === 'string' ? value : value.join(', ')
    out += `=${text
      .trim()
      .replace(/\s*,\s*/g, ',')
      .replace(/\s+/g, ' ')}\n`
  }
  return out
}
