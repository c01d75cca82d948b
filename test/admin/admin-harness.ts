/**
 * The admin listener on an ephemeral loopback port with a recording Invalidator (a
 * collaborator we own, standing in for the store-backed one) and a logger writing to memory.
 */
import { Writable } from 'node:stream'
import { createAdminServer } from '../../src/admin/admin-server.ts'
import { createLogger } from '../../src/observability/logger.ts'
import type { InvalidationRequest, InvalidationResult, Invalidator } from '../../src/surrogate/invalidator.ts'

export interface RecordingInvalidator extends Invalidator {
  /** Every request received, in order. */
  readonly calls: InvalidationRequest[]
  /** What the next calls answer with: a count, or an error to throw. */
  next: { purged: number } | { error: Error }
}

export function createRecordingInvalidator(): RecordingInvalidator {
  const invalidator: RecordingInvalidator = {
    calls: [],
    next: { purged: 0 },
    async invalidate(request): Promise<InvalidationResult> {
      invalidator.calls.push(request)
      const next = invalidator.next
      if ('error' in next) throw next.error
      return { purged: next.purged, soft: request.soft, dryRun: request.dryRun, tookMs: 3 }
    },
  }
  return invalidator
}

export interface TestAdmin {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly invalidator: RecordingInvalidator
  /** Raw log lines written so far. */
  readonly logLines: string[]
  /** Parsed log lines written so far. */
  logs(): Record<string, unknown>[]
  close(): Promise<void>
}

export async function startAdmin(tokens: readonly string[]): Promise<TestAdmin> {
  const logLines: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.length > 0) logLines.push(line)
      callback()
    },
  })
  const invalidator = createRecordingInvalidator()
  const server = createAdminServer({
    readiness: () => ({ ready: true, report: {} }),
    invalidator,
    tokens,
    log: createLogger({ level: 'info', destination }).child({ component: 'admin' }),
  })
  const { port } = await server.listen('127.0.0.1', 0)
  return {
    url: `http://127.0.0.1:${port}`,
    invalidator,
    logLines,
    logs: () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>),
    close: () => server.close(),
  }
}
