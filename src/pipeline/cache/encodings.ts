/**
 * The cache stage's side of compression. A response the compress stage coded is stored as a
 * Vary variant, under the coding the request's Accept-Encoding selects rather than the
 * field's text, so every client that selects br shares one variant (`selectors`). When a
 * request's variant is missing but the same response is stored in another coding, it is
 * coded from that one and stored once, with no trip to the origin (`sibling`); a client that
 * accepts none of the stored codings gets the body decoded on its way out (`deliver`).
 */
import { variantKey } from '../../cache/cache-key.ts'
import {
  decodeMeta,
  responseToMeta,
  type StoredResponse,
  type VaryMarker,
} from '../../cache/stored-response.ts'
import { type FieldSelector, variantOf } from '../../cache/vary.ts'
import type { Compression } from '../../compression/compression.ts'
import { createDecoder, decode, decodeSync, encode } from '../../compression/encode.ts'
import {
  type Chosen,
  type Coding,
  codingOf,
  forbidsTransform,
  isCoding,
  isNegotiable,
  varyWithAcceptEncoding,
  weakened,
} from '../../compression/negotiate.ts'
import type { StoredEntry } from '../../storage/store.ts'
import type { Answer } from '../answer.ts'
import type { HeaderMap } from '../context.ts'
import { answerFromStored, type CachedAnswerInput } from './stored-answer.ts'

/** A stored response found under another variant key than the request's own. */
export interface Sibling {
  readonly key: string
  readonly entry: StoredEntry
  readonly response: StoredResponse
}

/** The store operations `sibling` needs; failures are the caller's to count (entries.ts). */
export interface SiblingStore {
  get(key: string): Promise<StoredEntry | undefined>
  set(key: string, entry: StoredEntry): Promise<boolean>
}

export interface StoredEncodings {
  /** Vary selectors: Accept-Encoding stands for the coding it selects. */
  readonly selectors: Readonly<Record<string, FieldSelector>>
  /**
   * For a request whose variant under `marker` is not stored: the same response stored in
   * another coding, coded (and stored) in the request's coding when it selects one; or
   * undefined, and the request goes to the origin as any Vary miss does.
   */
  sibling(
    key: string,
    marker: VaryMarker,
    headers: HeaderMap,
    store: SiblingStore,
  ): Promise<Sibling | undefined>
  /**
   * `sibling` from what the store holds in this process (`peek`), without I/O, for a request
   * that wants identity: a hit decoded on its way out needs no await.
   */
  siblingHere(
    key: string,
    marker: VaryMarker,
    headers: HeaderMap,
    peek: (key: string) => StoredEntry | undefined,
  ): Sibling | undefined
  /** answerFromStored, with the body decoded for a client that accepts none of its coding. */
  deliver(input: CachedAnswerInput): Answer
}

/**
 * @example
 * const encodings = createStoredEncodings(createCompression(options))
 * createCacheStage({ ...deps, encodings })
 */
export function createStoredEncodings(compression: Compression): StoredEncodings {
  const selectors: Readonly<Record<string, FieldSelector>> = {
    'accept-encoding': (headers) => compression.acceptanceOf(headers).chosen,
  }
  const selectorFor = (chosen: Chosen) => ({ 'accept-encoding': () => chosen })
  // One coding of one variant at a time: concurrent requests for it wait for the same work.
  const coding = new Map<string, Promise<Sibling | undefined>>()

  /** The variant stored under `other`'s key, when it is one this cache may code or decode. */
  function usable(otherKey: string, entry: StoredEntry | undefined): (Sibling & { has: Chosen }) | undefined {
    const meta = entry === undefined ? undefined : decodeMeta(entry.meta)
    if (entry === undefined || meta?.kind !== 'response') return undefined
    const { response } = meta
    const has = codingOf(response.headers['content-encoding'])
    // RFC 9110 §7.7: the origin forbade changing it; a coding we cannot read is left alone.
    if (forbidsTransform(response.headers['cache-control'])) return undefined
    if (has !== 'identity' && !isCoding(has)) return undefined
    return { key: otherKey, entry, response, has }
  }

  /** Codings to look for, identity first: coding it is cheaper than decoding anything first. */
  function others(wanted: Chosen): Chosen[] {
    return ['identity' as const, ...compression.offered].filter((other) => other !== wanted)
  }

  async function sibling(
    key: string,
    marker: VaryMarker,
    headers: HeaderMap,
    store: SiblingStore,
  ): Promise<Sibling | undefined> {
    const wanted = compression.acceptanceOf(headers).chosen
    for (const other of others(wanted)) {
      const otherKey = variantKey(key, marker.id, variantOf(marker.fields, headers, selectorFor(other)))
      const found = usable(otherKey, await store.get(otherKey))
      if (found === undefined) continue
      // deliver() decodes it for this request, which is cheap; stored decoded it would take
      // several times the room of the coded variants.
      if (wanted === 'identity' || found.has === wanted) return found
      // The origin's own Vary: Accept-Encoding on an image, say: nothing to code here.
      const { status, headers: fields, bodyLength } = found.response
      if (!isNegotiable({ status, headers: fields, bodyLength }, compression)) continue
      const wantedKey = variantKey(key, marker.id, variantOf(marker.fields, headers, selectors))
      let work = coding.get(wantedKey)
      if (work === undefined) {
        work = recode(wantedKey, found, found.has, wanted, store).finally(() => coding.delete(wantedKey))
        coding.set(wantedKey, work)
      }
      // Undefined: too large to decode whole here, so the origin is asked for this coding.
      return await work
    }
    return undefined
  }

  function siblingHere(
    key: string,
    marker: VaryMarker,
    headers: HeaderMap,
    peek: (key: string) => StoredEntry | undefined,
  ): Sibling | undefined {
    const wanted = compression.acceptanceOf(headers).chosen
    // Only what deliver() can send: coding anew (and storing) waits for the async lookup.
    if (wanted !== 'identity') return undefined
    for (const other of others(wanted)) {
      const otherKey = variantKey(key, marker.id, variantOf(marker.fields, headers, selectorFor(other)))
      const found = usable(otherKey, peek(otherKey))
      if (found !== undefined) return found
    }
    return undefined
  }

  /**
   * `from`'s body in `to`, stored under `toKey` with what `from` was stored with (tags,
   * expiry, fetch time: a purge since that fetch still wins), and its entity tag weakened
   * (RFC 9110 §8.8.3). Undefined when the body is too large to decode whole or zlib fails.
   */
  async function recode(
    toKey: string,
    from: Sibling,
    has: Chosen,
    to: Coding,
    store: SiblingStore,
  ): Promise<Sibling | undefined> {
    let body: Buffer
    try {
      const identity =
        has === 'identity' ? from.entry.body : await decode(has, from.entry.body, compression.maxDecodedBytes)
      body = await encode(to, identity, compression.levels)
    } catch {
      // Larger than the store would keep once decoded (or damaged): no use coding it here.
      return undefined
    }
    const headers: Record<string, string | readonly string[]> = {
      ...from.response.headers,
      'content-encoding': to,
      'content-length': String(body.length),
    }
    delete headers['accept-ranges']
    const etag = weakened(from.response.headers.etag)
    if (etag !== undefined) headers.etag = etag
    const response: StoredResponse = { ...from.response, headers, bodyLength: body.length }
    const entry: StoredEntry = {
      meta: responseToMeta(response),
      body,
      expiresAt: from.entry.expiresAt,
      tags: from.entry.tags,
      fetchedAt: from.entry.fetchedAt ?? from.response.requestTime,
      ...(from.entry.invalidatedAt === undefined ? {} : { invalidatedAt: from.entry.invalidatedAt }),
    }
    // Not stored (too large, a purge since, a store failure): this request is answered anyway.
    await store.set(toKey, entry)
    return { key: toKey, entry, response }
  }

  function deliver(input: CachedAnswerInput): Answer {
    const stored = input.response.headers['content-encoding']
    if (stored === undefined) return answerFromStored(input)
    const has = codingOf(stored)
    if (!isCoding(has) || forbidsTransform(input.response.headers['cache-control'])) {
      return answerFromStored(input)
    }
    const answer = compression.acceptanceOf(input.ctx.headers).accepts.has(has)
      ? answerFromStored(input)
      : decodedAnswer(input, has)
    markVariesOnCoding(answer, input.response)
    return answer
  }

  /** RFC 9110 §12.5.3: the client accepts none of the stored codings: decoded on the way out. */
  function decodedAnswer(input: CachedAnswerInput, has: Coding): Answer {
    // A small body is decoded here and now: the answer then has its length, and ranges.
    const decoded = input.body.length <= SYNC_DECODE_MAX_BYTES ? decodeSmall(has, input.body) : undefined
    if (decoded !== undefined) {
      return answerFromStored({
        ...input,
        response: asIdentity(input.response, decoded.length),
        body: decoded,
      })
    }
    // A larger one streams through a decoder, sent whole (no ranges: see stored-answer.ts).
    const answer = answerFromStored(input)
    if (answer.status !== 200) return answer
    const headers = answer.headers
    delete headers['content-encoding']
    delete headers['content-length']
    const etag = weakened(headers.etag)
    if (etag !== undefined) headers.etag = etag
    if (Buffer.isBuffer(answer.body)) {
      const decoder = createDecoder(has)
      decoder.end(answer.body)
      return { ...answer, body: decoder }
    }
    return answer
  }

  return { selectors, sibling, siblingHere, deliver }
}

/**
 * Stored bodies up to this size are decoded on the event loop, in one call: that costs less
 * than a decoder stream (its native handle, a thread-pool round trip per chunk) and blocks
 * for a fraction of a millisecond. Larger ones stream.
 */
const SYNC_DECODE_MAX_BYTES = 16 * 1024

/** What a small body may decode to at most; a larger result streams instead. */
const SYNC_DECODED_MAX_BYTES = 256 * 1024

function decodeSmall(coding: Coding, body: Buffer): Buffer | undefined {
  try {
    return decodeSync(coding, body, SYNC_DECODED_MAX_BYTES)
  } catch {
    // Larger than the bound (or damaged): the stream decoder has its turn, and its say.
    return undefined
  }
}

/** The stored response as sent decoded: no Content-Encoding, its ETag weak (RFC 9110 §8.8.3). */
function asIdentity(response: StoredResponse, length: number): StoredResponse {
  const headers: Record<string, string | readonly string[]> = { ...response.headers }
  delete headers['content-encoding']
  const etag = weakened(headers.etag)
  if (etag !== undefined) headers.etag = etag
  return { ...response, headers, bodyLength: length }
}

/**
 * RFC 9110 §12.5.5: a response stored in a coding this cache decodes for clients that do
 * not accept it is answered coded or not by the request's Accept-Encoding, which its Vary
 * must then say, though the origin (which sent it coded whatever was asked) may not have.
 */
export function markVariesOnCoding(answer: Answer, response: StoredResponse): void {
  const coding = response.headers['content-encoding']
  if (coding === undefined || !isCoding(codingOf(coding))) return
  if (response.vary?.includes('accept-encoding') === true) return
  if (forbidsTransform(response.headers['cache-control'])) return
  answer.headers.vary = varyWithAcceptEncoding(answer.headers.vary)
}
