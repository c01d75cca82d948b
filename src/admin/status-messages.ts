/**
 * The messages a worker and the primary exchange to sum the status page's figures over
 * workers (see cluster-status.ts and relayStatus in src/workers.ts). A module of its own,
 * with only type imports, so the primary reads them without loading the app.
 */
import type { StatusReport } from './status-snapshot.ts'

/** Messages between workers and the primary; `type` keeps them apart from other IPC. */
export type StatusMessage =
  /** Worker → primary: a client asked this worker for /status. */
  | { readonly type: 'edgecache:status'; readonly id: number }
  /** Primary → every worker: send your own report for round `id`. */
  | { readonly type: 'edgecache:status-local'; readonly id: number }
  /** Worker → primary: this worker's report for round `id`. */
  | { readonly type: 'edgecache:status-report'; readonly id: number; readonly report: StatusReport }
  /** Primary → the asking worker: the sum over workers, or why there is none. */
  | {
      readonly type: 'edgecache:status-result'
      readonly id: number
      readonly report?: StatusReport
      readonly error?: string
    }

export function isStatusMessage(message: unknown): message is StatusMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('edgecache:status')
  )
}
