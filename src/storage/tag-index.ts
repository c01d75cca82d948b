/**
 * An in-process index from tag (surrogate key) to the keys carrying it, for stores that
 * keep their entries in this process. It holds only what it is told: the store adds a key
 * when it stores an entry and removes it whenever the entry leaves, however it leaves, so
 * the index never outgrows the entries. It knows nothing of entries, expiry or HTTP.
 */

const NO_TAGS: readonly string[] = Object.freeze([])

/**
 * `tags` with each tag once: the same array when it has no repeats (the common case), a
 * new one otherwise. What {@link TagIndex.add} expects.
 */
export function uniqueTags(tags: readonly string[] | undefined): readonly string[] {
  if (tags === undefined || tags.length === 0) return NO_TAGS
  if (tags.length === 1) return tags
  const unique = new Set(tags)
  return unique.size === tags.length ? tags : Array.from(unique)
}

/*
 * Most tags name one key: every entry carries the tag of its own URL. A Set for each
 * would cost about 200 bytes and an allocation per entry, so a tag with one key maps to
 * the key itself, and becomes a Set only when a second key joins it (and a key again when
 * it is down to one).
 */

/**
 * Tag → keys. The caller keeps each key's tags (deduplicated, see {@link uniqueTags}) and
 * hands the same tags back to `remove`; the index does not keep them a second time. Tags
 * left with no key are dropped at once, so `tagCount` and `memberships` always describe
 * the keys currently indexed.
 */
export class TagIndex {
  readonly #keysByTag = new Map<string, string | Set<string>>()
  #memberships = 0

  /** Indexes `key` under each of `tags`, which must hold each tag once. */
  add(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#keysByTag.get(tag)
      if (keys === undefined) {
        this.#keysByTag.set(tag, key)
      } else if (typeof keys === 'string') {
        if (keys === key) continue
        this.#keysByTag.set(tag, new Set([keys, key]))
      } else {
        const before = keys.size
        if (keys.add(key).size === before) continue
      }
      this.#memberships++
    }
  }

  /** Removes `key` from each of `tags`: the tags it was added with. */
  remove(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#keysByTag.get(tag)
      if (keys === undefined) continue
      if (typeof keys === 'string') {
        if (keys !== key) continue
        this.#keysByTag.delete(tag)
      } else {
        if (!keys.delete(key)) continue
        if (keys.size === 1) this.#keysByTag.set(tag, keys.values().next().value as string)
      }
      this.#memberships--
    }
  }

  /** The keys indexed under `tag`: a new array, so the caller may remove them as it goes. */
  keysOf(tag: string): string[] {
    const keys = this.#keysByTag.get(tag)
    if (keys === undefined) return []
    return typeof keys === 'string' ? [keys] : Array.from(keys)
  }

  clear(): void {
    this.#keysByTag.clear()
    this.#memberships = 0
  }

  /** Distinct tags with at least one key. */
  get tagCount(): number {
    return this.#keysByTag.size
  }

  /** Key memberships: the sum over tags of their keys. */
  get memberships(): number {
    return this.#memberships
  }
}
