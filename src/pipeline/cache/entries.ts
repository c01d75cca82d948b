/**
 * The cache stage's side of the store: lookups through Vary markers, commits with tags and
 * fetch times, refreshes after a 304, and invalidations. A store failure never fails a
 * request: it is counted, logged and treated as a miss or as not stored.
 */
import { randomBytes } from 'node:crypto'
import { variantKey } from '../../cache/cache-key.ts'
import { retainUntil, softPurged } from '../../cache/freshness.ts'
import { asParts, asWhole, combineParts, isWhole, type Part, type StoredParts } from '../../cache/parts.ts'
import {
  decodeMeta,
  markerToMeta,
  partsToMeta,
  responseToMeta,
  type StoredPartial,
  type StoredResponse,
  type VaryMarker,
} from '../../cache/stored-response.ts'
import { variantOf } from '../../cache/vary.ts'
import { events, publish } from '../../observability/events.ts'
import type { CacheStore, StoredEntry } from '../../storage/store.ts'
import type { Invalidator } from '../../surrogate/invalidator.ts'
import { urlTag } from '../../surrogate/tags.ts'
import type { HeaderMap, RequestContext } from '../context.ts'
import type { StoredEncodings } from './encodings.ts'

export interface CacheEntriesDeps {
  readonly store: CacheStore
  readonly invalidator: Invalidator
  /** How long a stale response with a validator is kept for revalidation, ms. */
  readonly keepMs: number
  /** How long a stale response is kept to stand in for an unreachable origin, ms. @default 0 */
  readonly staleIfDisconnectedMs?: number
  /** The store's name in metrics. */
  readonly storeName: string
  readonly log: { warn(obj: object, msg: string): void }
  /** Compression's hooks: Accept-Encoding read as a coding, other codings of a variant. @default none */
  readonly encodings?: StoredEncodings | undefined
}

/** A stored response found for a request, and the key it lives under. */
export interface Found {
  readonly key: string
  readonly response: StoredResponse
  readonly body: Buffer
  /** The Vary marker it was found through, if any. */
  readonly marker: VaryMarker | undefined
  readonly tags: readonly string[] | undefined
  /** When a soft purge ended its freshness (epoch ms), if one did. */
  readonly invalidatedAt?: number
}

/** Parts of a representation stored for a URL (RFC 9111 §3.4), and the key they live under. */
export interface FoundParts {
  readonly key: string
  /** The newest part's response, as a request must see it (a soft purge ends its freshness). */
  readonly response: StoredResponse
  readonly parts: StoredParts
  /** The bytes of `parts.ranges`, back to back. */
  readonly body: Buffer
}

export type Lookup =
  | { readonly kind: 'found'; readonly found: Found }
  | {
      readonly kind: 'miss'
      readonly reason: 'uri-miss' | 'vary-miss'
      readonly marker: VaryMarker | undefined
      /** Parts stored under the key: no complete response, but a range they cover may be answered. */
      readonly parts?: FoundParts
    }

/** Where a response for one request is stored. */
export interface CommitTarget {
  /** Cache key of the request. */
  readonly key: string
  /** The key's URL part, whose tag a URL purge uses. */
  readonly urlKey: string
  /** The Vary marker seen at lookup, reused when the new response varies on the same fields. */
  readonly marker: VaryMarker | undefined
  readonly ctx: Pick<RequestContext, 'headers' | 'facts'>
}

const EMPTY = Buffer.alloc(0)

/** Nothing stored under the key: one object for every such lookup. */
const URI_MISS: Lookup = Object.freeze({ kind: 'miss', reason: 'uri-miss', marker: undefined })

/** The cache stage's reads and writes of stored responses. */
export type CacheEntries = ReturnType<typeof createCacheEntries>

export function createCacheEntries(deps: CacheEntriesDeps) {
  const { store, log } = deps
  const selectors = deps.encodings?.selectors
  const storageFailed = (op: 'get' | 'set' | 'delete' | 'purge') =>
    publish(events.storageError, { store: deps.storeName, op })

  async function get(key: string) {
    try {
      return await store.get(key)
    } catch (err) {
      // A store failure degrades to a miss; it never fails the request.
      storageFailed('get')
      log.warn({ err }, 'cache store get failed, serving as miss')
      return undefined
    }
  }

  async function set(key: string, entry: StoredEntry) {
    try {
      return await store.set(key, entry)
    } catch (err) {
      storageFailed('set')
      log.warn({ err }, 'cache store set failed, response not stored')
      return false
    }
  }

  async function remove(key: string) {
    try {
      await store.delete(key)
    } catch (err) {
      storageFailed('delete')
      log.warn({ err }, 'cache store delete failed')
    }
  }

  /**
   * Hard purge of every stored response (all Vary variants) of these primary keys, after an
   * unsafe method succeeded (RFC 9111 §4.4): the status page lists it under that source.
   */
  async function purgeUrls(keys: readonly string[]) {
    if (keys.length === 0) return
    try {
      // Through the invalidator, so every worker's store drops them, not only this one's.
      await deps.invalidator.invalidate({
        tags: keys.map(urlTag),
        soft: false,
        dryRun: false,
        source: 'unsafe-method',
      })
    } catch (err) {
      storageFailed('purge')
      log.warn({ err }, 'cache store purge failed')
    }
  }

  /** The stored response as a request must see it: a soft purge ends its freshness. */
  function toFound(
    key: string,
    entry: StoredEntry,
    response: StoredResponse,
    marker: VaryMarker | undefined,
  ): Found {
    const { invalidatedAt } = entry
    if (invalidatedAt === undefined) return { key, response, body: entry.body, marker, tags: entry.tags }
    const seen = softPurged(response, invalidatedAt)
    return { key, response: seen, body: entry.body, marker, tags: entry.tags, invalidatedAt }
  }

  async function lookup(key: string, headers: HeaderMap): Promise<Lookup> {
    const entry = await get(key)
    const decoded = entry === undefined ? undefined : decodeMeta(entry.meta)
    if (entry === undefined || decoded === undefined) return URI_MISS
    if (decoded.kind === 'response')
      return { kind: 'found', found: toFound(key, entry, decoded.response, undefined) }
    if (decoded.kind === 'parts') return partsMiss(key, entry, decoded.partial)
    const { marker } = decoded
    const vkey = variantKey(key, marker.id, variantOf(marker.fields, headers, selectors))
    const variant = await get(vkey)
    if (variant === undefined && deps.encodings !== undefined && marker.fields.includes('accept-encoding')) {
      // The response may be stored in another coding: served from that, not the origin.
      const other = await deps.encodings.sibling(key, marker, headers, { get, set })
      if (other !== undefined)
        return { kind: 'found', found: toFound(other.key, other.entry, other.response, marker) }
    }
    return variantLookup(vkey, variant, marker)
  }

  /**
   * What `lookup` would find, from what the store holds in this process and without I/O;
   * undefined when that is not enough to say (nothing held here, or no `peek`), in which
   * case `lookup` must be asked. A store whose `peek` sees all it holds (`peekSeesAll`)
   * says a miss here too, so a miss does not read the store twice.
   */
  function lookupHere(key: string, headers: HeaderMap): Lookup | undefined {
    peekFailed = false
    const entry = peek(key)
    // A failed peek says nothing: lookup gets its own chance.
    const seesAll = store.peekSeesAll === true && !peekFailed
    const decoded = entry === undefined ? undefined : decodeMeta(entry.meta)
    if (entry === undefined || decoded === undefined) return seesAll ? URI_MISS : undefined
    if (decoded.kind === 'response')
      return { kind: 'found', found: toFound(key, entry, decoded.response, undefined) }
    // Parts are no complete response: lookup says what a request may do with them.
    if (decoded.kind === 'parts') return seesAll ? partsMiss(key, entry, decoded.partial) : undefined
    const { marker } = decoded
    const vkey = variantKey(key, marker.id, variantOf(marker.fields, headers, selectors))
    const variant = peek(vkey)
    if (variant === undefined && deps.encodings !== undefined && marker.fields.includes('accept-encoding')) {
      const other = deps.encodings.siblingHere(key, marker, headers, peek)
      if (other !== undefined)
        return { kind: 'found', found: toFound(other.key, other.entry, other.response, marker) }
      // lookup's own search for another coding may do more than peek.
      return undefined
    }
    const found = variantLookup(vkey, variant, marker)
    return found.kind === 'found' || (seesAll && !peekFailed) ? found : undefined
  }

  /** Set by a peek that failed, for lookupHere. */
  let peekFailed = false

  function peek(key: string): StoredEntry | undefined {
    try {
      return store.peek?.(key)
    } catch (err) {
      // As for get: a failure is a miss here, and lookup gets its own chance.
      log.warn({ err }, 'cache store peek failed')
      peekFailed = true
      return undefined
    }
  }

  /** Parts stored under `key`: no complete response, but a range they cover may be answered. */
  function partsMiss(key: string, entry: StoredEntry, partial: StoredPartial): Lookup {
    const { response, parts } = partial
    const seen = entry.invalidatedAt === undefined ? response : softPurged(response, entry.invalidatedAt)
    return {
      kind: 'miss',
      reason: 'uri-miss',
      marker: undefined,
      parts: { key, response: seen, parts, body: entry.body },
    }
  }

  /** The variant stored under `vkey` for a URL whose responses vary by `marker`'s fields. */
  function variantLookup(vkey: string, variant: StoredEntry | undefined, marker: VaryMarker): Lookup {
    const v = variant === undefined ? undefined : decodeMeta(variant.meta)
    if (variant === undefined || v?.kind !== 'response') {
      return { kind: 'miss', reason: 'vary-miss', marker }
    }
    return { kind: 'found', found: toFound(vkey, variant, v.response, marker) }
  }

  /**
   * Stores `response` for the request in `fill`, with a Vary marker when it has selecting
   * fields. Every entry carries the URL's tag, so a URL purge reaches all variants, and the
   * time its fetch started, so a purge since then wins (see CacheStore.set).
   */
  async function commit(
    target: CommitTarget,
    response: StoredResponse,
    body: Buffer,
    tags: readonly string[],
    fetchedAt: number,
  ) {
    const { ctx, key, marker } = target
    const expiresAt = retainUntil(response, deps.keepMs, graceOf(ctx))
    const meta = responseToMeta(response)
    const own = urlTag(target.urlKey)
    const allTags = tags.includes(own) ? tags : [own, ...tags]
    if (response.vary === undefined) return set(key, { meta, body, expiresAt, tags: allTags, fetchedAt })
    const fields = response.vary
    const sameFields = marker !== undefined && marker.fields.join(',') === fields.join(',')
    const current: VaryMarker = sameFields ? marker : { fields, id: randomBytes(6).toString('base64url') }
    const existing = await get(key)
    const markerExpires = Math.max(expiresAt, sameFields && existing !== undefined ? existing.expiresAt : 0)
    const markerEntry = {
      meta: markerToMeta(current),
      body: EMPTY,
      expiresAt: markerExpires,
      tags: [own],
      fetchedAt,
    }
    if (!(await set(key, markerEntry))) return false
    const vkey = variantKey(key, current.id, variantOf(fields, ctx.headers, selectors))
    return set(vkey, { meta, body, expiresAt, tags: allTags, fetchedAt })
  }

  /**
   * Stores a new part of the representation under the request's key (RFC 9111 §3.4):
   * combined with the parts stored there when they share its strong validator, else in
   * their place, and as a complete 200 once the parts hold all of it. The newest part's
   * header fields, freshness and tags stand for the whole entry, as §3.4 says. A complete
   * response stored there meanwhile (by a full fill) is kept: the part adds nothing to it.
   * When the parts together would pass `maxBytes`, the new part replaces them, so the
   * entry stays within the object limit and holds the range asked for last.
   */
  async function commitPart(
    target: CommitTarget,
    response: StoredResponse,
    part: Part,
    partBody: Buffer,
    tags: readonly string[],
    fetchedAt: number,
    maxBytes: number,
  ): Promise<boolean> {
    const existing = await get(target.key)
    const decoded = existing === undefined ? undefined : decodeMeta(existing.meta)
    if (decoded?.kind === 'response') return false
    const stored =
      existing !== undefined && decoded?.kind === 'parts'
        ? { parts: decoded.partial.parts, body: existing.body }
        : undefined
    let combined = combineParts(stored, part, partBody)
    if (combined.body.length > maxBytes) combined = combineParts(undefined, part, partBody)
    if (isWhole(combined.parts))
      return commit(target, asWhole(response, combined.parts.length), combined.body, tags, fetchedAt)
    const partial = asParts(response, combined.parts)
    const own = urlTag(target.urlKey)
    return set(target.key, {
      meta: partsToMeta({ response: partial, parts: combined.parts }),
      body: combined.body,
      expiresAt: retainUntil(partial, deps.keepMs, graceOf(target.ctx)),
      tags: tags.includes(own) ? tags : [own, ...tags],
      fetchedAt,
    })
  }

  /** Stores a response a 304 refreshed, under the key and tags it had. */
  function storeRefreshed(
    found: Found,
    updated: StoredResponse,
    fetchedAt: number,
    ctx: Pick<RequestContext, 'facts'>,
  ) {
    return set(found.key, {
      meta: responseToMeta(updated),
      body: found.body,
      expiresAt: retainUntil(updated, deps.keepMs, graceOf(ctx)),
      tags: found.tags,
      fetchedAt,
    })
  }

  /** How long a stale response may stand in for an unreachable origin: the route's say, else the global one. */
  function graceOf(ctx: Pick<RequestContext, 'facts'>): number {
    return ctx.facts.policy.staleIfDisconnectedMs ?? deps.staleIfDisconnectedMs ?? 0
  }

  return { lookup, lookupHere, commit, commitPart, storeRefreshed, delete: remove, purgeUrls, graceOf }
}
