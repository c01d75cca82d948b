/**
 * The surrogate stage: after the upstream answers, collects the response's tags from its
 * header fields and the request's route tags, hands them to the cache stage on the Answer,
 * and removes the tag fields from what the client sees (unless configured to keep them).
 */
import { collectTags, type TagFieldOptions } from '../../surrogate/tags.ts'
import type { Stage } from '../compose.ts'

export interface SurrogateStageDeps {
  readonly fields: TagFieldOptions
  /** Remove the tag fields from responses sent to clients. @default true */
  readonly strip: boolean
  /** Told how many tags a response lost to the limits. */
  onDropped(count: number, reqId: string): void
}

export function createSurrogateStage(deps: SurrogateStageDeps): Stage {
  const fieldNames = [...deps.fields.spaceSeparated, ...deps.fields.commaSeparated]
  return {
    name: 'surrogate',
    async handle(ctx, next) {
      const answer = await next(ctx)
      const { tags, dropped } = collectTags(answer.headers, ctx.facts.tags, deps.fields)
      if (dropped > 0) deps.onDropped(dropped, ctx.id)
      if (deps.strip) for (const name of fieldNames) delete answer.headers[name]
      if (tags.length > 0) answer.tags = tags
      return answer
    },
  }
}
