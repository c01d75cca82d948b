/**
 * What a reload changes: the fields whose values differ between two configs, split into
 * those edgecache applies at once and those that take effect at the next start.
 */
import type { Config } from './schema.ts'

/**
 * Fields (or whole sections, by prefix) that every worker applies while serving. The rest
 * (listeners, store, pools, workers, limits of the listener, which route file) are bound to
 * sockets, files or processes made at start. The route file's text reloads with every reload.
 */
const LIVE = [
  'admin.tokens',
  'admin.tokenFile',
  'log.level',
  'log.access',
  'log.accessSample',
  'log.accessQuery',
  'log.accessFormat',
  'cache.',
  'readiness.',
  'server.methods',
  'server.requestBuffering',
  'upstream.headersTimeout',
  'upstream.bodyTimeout',
  // Read again at every reload; new handshakes get them (server/live-certificates.ts).
  'tls.cert',
  'tls.key',
  'tls.certificates',
  'tls.clientCa',
]

export interface ConfigChanges {
  /** Dotted paths that changed and now apply. */
  readonly live: readonly string[]
  /** Dotted paths that changed but apply only after a restart. */
  readonly restartNeeded: readonly string[]
}

export function configChanges(before: Config, after: Config): ConfigChanges {
  const live: string[] = []
  const restartNeeded: string[] = []
  for (const path of changedPaths(before, after, '')) {
    const isLive = LIVE.some((field) => (field.endsWith('.') ? path.startsWith(field) : path === field))
    ;(isLive ? live : restartNeeded).push(path)
  }
  return { live, restartNeeded }
}

/** Leaf paths whose values differ; a list counts as one leaf. */
function changedPaths(a: unknown, b: unknown, prefix: string): string[] {
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys]
      .sort()
      .flatMap((key) => changedPaths(a[key], b[key], prefix === '' ? key : `${prefix}.${key}`))
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix]
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
