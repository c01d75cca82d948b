/**
 * Path templates (`/p/:id`, `/static/*`): checked and turned into an anchored regex, with
 * the literal text every matching path starts with for the matcher's buckets. Pure.
 */

/** The parameter a trailing `*` fills. */
export const tailParam = 'wild'

const paramName = /^[A-Za-z_][A-Za-z0-9_]*$/
const forbidden = /[\s?#]/

/** A parsed template: its pieces in order, its parameters, and the literal text before the first. */
export interface PathTemplate {
  /** Parameter names in order; `wild` last for a `*` tail. */
  readonly params: readonly string[]
  /** Text every matching path starts with: the template up to its first parameter. */
  readonly literalPrefix: string
  /** True when the template has no parameter: a path matches only by being equal to it. */
  readonly exact: boolean
  /** Anchored regex with one capture group per parameter; undefined when `exact`. */
  readonly regex: RegExp | undefined
}

/**
 * Parses a path template. Segments are literal text, `:name` (one non-empty segment), or a
 * final `*` (the rest of the path, possibly empty, as `wild`). Matching is on the raw path:
 * nothing is percent-decoded, and `/p/:id` does not match `/p/42/`.
 *
 * @returns the parsed template, or a problem in words (without the field name).
 * @example parsePathTemplate('/p/:id').params // ['id']
 */
export function parsePathTemplate(template: string): PathTemplate | { readonly problem: string } {
  if (!template.startsWith('/')) return { problem: `must start with "/", got ${JSON.stringify(template)}` }
  if (forbidden.test(template)) {
    return { problem: 'must not contain whitespace, "?" or "#" (a template matches the path only)' }
  }
  const segments = template.slice(1).split('/')
  const params: string[] = []
  let source = '^'
  let literalPrefix = ''
  let literal = true
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1
    source += '\\/'
    if (literal) literalPrefix += '/'
    if (segment === '*') {
      if (!last) return { problem: '"*" is only allowed as the last segment' }
      params.push(tailParam)
      source += '([^]*)'
      literal = false
    } else if (segment.startsWith(':')) {
      const name = segment.slice(1)
      if (!paramName.test(name)) {
        return { problem: `invalid parameter ${JSON.stringify(segment)}: expected ":" and a name like :id` }
      }
      if (name === tailParam) return { problem: `parameter name "${tailParam}" is kept for the "*" tail` }
      if (params.includes(name)) return { problem: `parameter "${name}" appears twice` }
      params.push(name)
      source += '([^/]+)'
      literal = false
    } else {
      if (segment.includes('*')) {
        return {
          problem: `"*" must be a whole last segment ("/static/*"); for other prefixes use pathPrefix`,
        }
      }
      source += escapeRegex(segment)
      if (literal) literalPrefix += segment
    }
  }
  if (params.length === 0) return { params, literalPrefix: template, exact: true, regex: undefined }
  return { params, literalPrefix, exact: false, regex: new RegExp(`${source}$`) }
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')
}
