/**
 * Surrogate keys (tags) read from response header fields: `Surrogate-Key` is
 * space-separated (as Fastly sends it), `Cache-Tag` comma-separated (as Cloudflare). Pure.
 */

export interface TagFieldOptions {
  /** Lowercase field names whose values are separated by spaces. @default ['surrogate-key'] */
  readonly spaceSeparated: readonly string[]
  /** Lowercase field names whose values are separated by commas. @default ['cache-tag'] */
  readonly commaSeparated: readonly string[]
  /** Most tags kept per response; the rest are dropped. @default 256 */
  readonly maxTags: number
  /** Longest tag kept, in UTF-8 bytes; longer ones are dropped. @default 1024 */
  readonly maxTagBytes: number
}

export interface ParsedTags {
  /** Distinct tags, in the order first seen. */
  readonly tags: string[]
  /** Tags dropped for the limits. */
  readonly dropped: number
}

type Fields = Readonly<Record<string, string | readonly string[] | undefined>>

/**
 * Collects the tags of a response from its fields plus `extra` (route tags), deduplicated.
 * Tags past `maxTags` or longer than `maxTagBytes` are dropped and counted, never an error.
 */
export function collectTags(fields: Fields, extra: readonly string[], options: TagFieldOptions): ParsedTags {
  const seen = new Set<string>()
  let dropped = 0
  const add = (tag: string) => {
    if (tag.length === 0 || seen.has(tag)) return
    if (seen.size >= options.maxTags || Buffer.byteLength(tag) > options.maxTagBytes) {
      dropped++
      return
    }
    seen.add(tag)
  }
  for (const tag of extra) add(tag)
  for (const name of options.spaceSeparated)
    for (const v of values(fields[name])) for (const t of v.split(/\s+/)) add(t)
  for (const name of options.commaSeparated)
    for (const v of values(fields[name])) for (const t of v.split(',')) add(t.trim())
  return { tags: [...seen], dropped }
}

function values(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return []
  return typeof value === 'string' ? [value] : value
}

/**
 * The tag every stored response of one URL carries, so purging a URL reaches all its Vary
 * variants through the tag index. The control character keeps it apart from any tag an
 * origin can send in a header field.
 */
export function urlTag(primaryKey: string): string {
  return `\u0001url ${primaryKey}`
}
