/**
 * The status page across node:cluster workers. Each worker counts what it served, but a
 * request for /status reaches one worker and must answer with the sum over all of them.
 * So the worker asks the primary, which has every worker send its report, sums them
 * (status-merge.ts, relayStatus in src/workers.ts) and sends the sum back. Outside a
 * cluster worker the tracker's own snapshot answers, as it always did.
 */
import cluster from 'node:cluster'
import type { StatusTracker } from './status.ts'
import { isStatusMessage, type StatusMessage } from './status-messages.ts'
import { type StatusReport, type StatusSnapshot, toSnapshot } from './status-snapshot.ts'

/** What /status and /status.json show: this process's figures, or the sum over workers. */
export interface StatusSource {
  /** Rejects when the workers' sum cannot be had. */
  snapshot(): StatusSnapshot | Promise<StatusSnapshot>
}

export interface ClusterStatus extends StatusSource {
  /** Stops answering the primary; requests waiting for a sum are rejected. */
  close(): void
}

/**
 * In a cluster worker: answers the primary's requests for this worker's report, and takes
 * snapshots by asking the primary for the sum. Elsewhere: `tracker`'s own snapshots.
 *
 * @example
 * const status = createClusterStatus(createStatusTracker(options))
 * createAdminServer({ ..., status })
 */
export function createClusterStatus(
  tracker: Pick<StatusTracker, 'snapshot' | 'report'>,
  timeoutMs = 10_000,
): ClusterStatus {
  const send = process.send?.bind(process)
  if (!cluster.isWorker || send === undefined) {
    return { snapshot: () => tracker.snapshot(), close() {} }
  }

  let nextId = 0
  const pending = new Map<number, (message: { report?: StatusReport; error?: string }) => void>()
  const onMessage = (message: unknown) => {
    if (!isStatusMessage(message)) return
    if (message.type === 'edgecache:status-local') {
      const answer: StatusMessage = {
        type: 'edgecache:status-report',
        id: message.id,
        report: tracker.report(),
      }
      // A closed channel (the primary is going away) has nobody left to answer.
      send(answer, undefined, undefined, () => {})
    } else if (message.type === 'edgecache:status-result') {
      pending.get(message.id)?.(message)
    }
  }
  process.on('message', onMessage)

  return {
    snapshot() {
      const id = nextId++
      return new Promise<StatusSnapshot>((resolve, reject) => {
        // Longer than the primary's own 5 s wait, so its error, which says more, comes first.
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error('the primary did not answer with the workers’ status in time'))
        }, timeoutMs)
        pending.set(id, (message) => {
          clearTimeout(timer)
          pending.delete(id)
          if (message.report !== undefined) resolve(toSnapshot(message.report, process.pid, true))
          else reject(new Error(message.error ?? 'the primary sent no status'))
        })
        const ask: StatusMessage = { type: 'edgecache:status', id }
        // A closed IPC channel reports through the callback rather than as an 'error' event.
        send(ask, undefined, undefined, (err: Error | null) => {
          if (err) pending.get(id)?.({ error: err.message })
        })
      })
    },
    close() {
      process.off('message', onMessage)
      for (const settle of pending.values()) settle({ error: 'closing' })
    },
  }
}
