/**
 * Route tags with `{param}` placeholders (`product:{id}`): parsed once when routes load,
 * filled in with a match's path parameters. Pure.
 */

/** A tag template: literal text and parameter names, alternating, starting with text. */
export interface TagTemplate {
  /** `parts[0]`, a parameter name, `parts[2]`, …: even indexes are text, odd are names. */
  readonly parts: readonly string[]
  /** The parameter names it uses. */
  readonly params: readonly string[]
}

const placeholder = /\{([^{}]*)\}/g
const invalidChar = /[\s\p{Cc}]/u

/**
 * Parses a tag template. A tag is non-empty and has no whitespace or control characters
 * (tags travel space-separated in `Surrogate-Key`); braces only appear as `{name}`.
 *
 * @returns the template, or a problem in words (without the field name).
 * @example parseTagTemplate('product:{id}') // { parts: ['product:', 'id', ''], params: ['id'] }
 */
export function parseTagTemplate(text: string): TagTemplate | { readonly problem: string } {
  if (text === '') return { problem: 'must not be empty' }
  if (invalidChar.test(text)) return { problem: 'must not contain whitespace or control characters' }
  const parts: string[] = []
  const params: string[] = []
  let last = 0
  for (const match of text.matchAll(placeholder)) {
    const name = match[1] ?? ''
    if (name === '') return { problem: 'empty placeholder "{}"; write {name} with a path parameter' }
    parts.push(text.slice(last, match.index), name)
    params.push(name)
    last = match.index + match[0].length
  }
  parts.push(text.slice(last))
  if (parts.some((part, index) => index % 2 === 0 && /[{}]/.test(part))) {
    return { problem: 'unmatched "{" or "}"; placeholders are written {name}' }
  }
  return { parts, params }
}

/** Fills a template's placeholders with `params`; a missing one becomes empty text. */
export function expandTag(template: TagTemplate, params: Readonly<Record<string, string>>): string {
  const { parts } = template
  let tag = parts[0] ?? ''
  for (let i = 1; i < parts.length; i += 2) tag += (params[parts[i]!] ?? '') + (parts[i + 1] ?? '')
  return tag
}
