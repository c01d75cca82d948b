/**
 * Publishes each invalidation on the `invalidation` diagnostics channel, once per call
 * however many workers carried it out, for metrics and the status page.
 */
import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { events, type Invalidation, publish } from '../observability/events.ts'
import type { InvalidationRequest, Invalidator } from './invalidator.ts'
import { urlTag } from './tags.ts'

const SHOWN = 20
const URL_TAG = urlTag('')

export function observeInvalidations(inner: Invalidator, clock: Clock): Invalidator {
  return {
    async invalidate(request) {
      const result = await inner.invalidate(request)
      if (!request.dryRun) {
        publish<Invalidation>(events.invalidation, {
          id: randomUUID(),
          kinds: kindsOf(request),
          soft: request.soft,
          purged: result.purged,
          at: clock.now(),
          summary: summarise(request),
          source: request.source,
        })
      }
      return result
    },
  }
}

function kindsOf(request: InvalidationRequest): Invalidation['kinds'] {
  const kinds: ('tag' | 'url' | 'prefix' | 'all')[] = []
  const tags = request.tags ?? []
  // URL tags stand for URLs (RFC 9111 §4.4 invalidation sends them that way).
  if (tags.some((t) => !t.startsWith(URL_TAG))) kinds.push('tag')
  if ((request.urls?.length ?? 0) > 0 || tags.some((t) => t.startsWith(URL_TAG))) kinds.push('url')
  if ((request.prefixes?.length ?? 0) > 0) kinds.push('prefix')
  if (request.all === true) kinds.push('all')
  return kinds
}

/** A short human description; internal URL tags are shown as the URL they stand for. */
function summarise(request: InvalidationRequest): string {
  const parts: string[] = []
  const list = (label: string, values: readonly string[] | undefined) => {
    if (values === undefined || values.length === 0) return
    const shown = values.slice(0, SHOWN).map((v) => (v.startsWith(URL_TAG) ? v.slice(URL_TAG.length) : v))
    parts.push(
      `${label}: ${shown.join(' ')}${values.length > SHOWN ? ` (+${values.length - SHOWN} more)` : ''}`,
    )
  }
  // RFC 9111 §4.4 invalidation names URLs by their internal tags: listed as the URLs they are.
  const tags = request.tags ?? []
  list(
    'tags',
    tags.filter((t) => !t.startsWith(URL_TAG)),
  )
  list('urls', [...tags.filter((t) => t.startsWith(URL_TAG)), ...(request.urls ?? [])])
  list('prefixes', request.prefixes)
  if (request.all === true) parts.push('everything')
  return parts.join('; ')
}
