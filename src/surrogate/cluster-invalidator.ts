/**
 * Invalidation across node:cluster workers, for the memory store: each worker has its own,
 * so a purge received by one worker is sent to the primary, which has every worker run it and
 * answers with the sum; the purge call answers only once every worker has purged. Outside
 * a cluster worker the local invalidator is used as it is.
 */
import cluster from 'node:cluster'
import { EdgecacheError } from '../errors.ts'
import type { InvalidationRequest, InvalidationResult, Invalidator } from './invalidator.ts'

/** Messages between workers and the primary; `type` keeps them apart from other IPC. */
export type InvalidationMessage =
  | { readonly type: 'edgecache:invalidate'; readonly id: number; readonly request: InvalidationRequest }
  | {
      readonly type: 'edgecache:invalidate-local'
      readonly id: number
      readonly request: InvalidationRequest
    }
  | {
      readonly type: 'edgecache:invalidated'
      readonly id: number
      readonly purged: number
      readonly error?: string
    }
  | {
      readonly type: 'edgecache:invalidate-result'
      readonly id: number
      readonly purged: number
      readonly error?: string
    }

export function isInvalidationMessage(message: unknown): message is InvalidationMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('edgecache:invalidat')
  )
}

/**
 * In a cluster worker: an Invalidator that purges on every worker, and the handler that
 * runs the primary's requests on this worker's store. Elsewhere: `local` itself.
 */
export function createClusterInvalidator(local: Invalidator, timeoutMs = 10_000): Invalidator {
  const send = process.send?.bind(process)
  if (!cluster.isWorker || send === undefined) return local
  let nextId = 0
  const pending = new Map<number, (message: { purged: number; error?: string }) => void>()

  process.on('message', (message: unknown) => {
    if (!isInvalidationMessage(message)) return
    if (message.type === 'edgecache:invalidate-local') {
      local.invalidate(message.request).then(
        (result) => send({ type: 'edgecache:invalidated', id: message.id, purged: result.purged }),
        (err: unknown) =>
          send({
            type: 'edgecache:invalidated',
            id: message.id,
            purged: 0,
            error: String((err as Error)?.message ?? err),
          }),
      )
    } else if (message.type === 'edgecache:invalidate-result') {
      pending.get(message.id)?.(message)
      pending.delete(message.id)
    }
  })

  return {
    async invalidate(request: InvalidationRequest): Promise<InvalidationResult> {
      const started = Date.now()
      const id = nextId++
      const reply = await new Promise<{ purged: number; error?: string }>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(
            new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['workers did not confirm the purge in time']),
          )
        }, timeoutMs)
        pending.set(id, (message) => {
          clearTimeout(timer)
          resolve(message)
        })
        send({ type: 'edgecache:invalidate', id, request })
      })
      if (reply.error !== undefined) throw new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', [reply.error])
      return {
        purged: reply.purged,
        soft: request.soft,
        dryRun: request.dryRun,
        tookMs: Date.now() - started,
      }
    },
  }
}
