/**
 * What `npm run bench` asks of each server: the cases (a path on the origin and what a
 * proxy should do with it), which targets each case applies to, and the connection counts
 * it runs at. Pure data; bench/run.ts turns a selection into the list of runs.
 */
import type { TargetId } from './targets.ts'

export type CaseId =
  | 'hit-1k'
  | 'hit-16k'
  | 'hit-256k'
  | 'hit-br-16k'
  | 'hit-decoded-16k'
  | 'miss'
  | 'miss-10ms'
  | 'fill'
  | 'stale'

export interface CaseDef {
  readonly id: CaseId
  /** As the table shows it. */
  readonly label: string
  /**
   * Path on the origin, and through a proxy; the bare server answers hit paths with a body
   * of their size. For a fill, the prefix: each request asks for a path under it never asked
   * before (LoadOptions.uniquePaths), and the origin counts them all under `path`.
   */
  readonly path: string
  /**
   * A proxy answers from its cache (hits, stale), forwards every request and stores nothing
   * (misses), or forwards every request and stores each answer (fills).
   */
  readonly kind: 'hit' | 'miss' | 'fill' | 'stale'
  /** Connection counts run when `--connections` is not given. */
  readonly defaultConnections: readonly number[]
  /** Request header fields every request of the case carries. @default none */
  readonly headers?: Readonly<Record<string, string>>
  /** Header fields of the requests that store the path before the runs. @default headers */
  readonly storeWith?: Readonly<Record<string, string>>
  /** nginx and Varnish run it too; not the compressed cases, which they are not set up to compress. @default true */
  readonly rivals?: boolean
}

/** What a browser sends. */
const BROWSER_ACCEPT_ENCODING = { 'accept-encoding': 'gzip, deflate, br, zstd' }

/**
 * 64 connections for every case; 1,024 too for the two the targets are set at (#7): the
 * 1 KiB hit and the miss with a 10 ms backend. `--connections 64,1024` runs every case at both.
 */
export const CASES: readonly CaseDef[] = [
  { id: 'hit-1k', label: 'hit 1 KiB', path: '/hit/1k', kind: 'hit', defaultConnections: [64, 1024] },
  { id: 'hit-16k', label: 'hit 16 KiB', path: '/hit/16k', kind: 'hit', defaultConnections: [64] },
  { id: 'hit-256k', label: 'hit 256 KiB', path: '/hit/256k', kind: 'hit', defaultConnections: [64] },
  // 16 KiB of HTML, stored br (4.7 KiB) when the cache filled: a hit sends the stored bytes.
  {
    id: 'hit-br-16k',
    label: 'hit 16 KiB HTML, br',
    path: '/hit/text-16k',
    kind: 'hit',
    defaultConnections: [64],
    headers: BROWSER_ACCEPT_ENCODING,
    rivals: false,
  },
  // The same page stored br only, asked for without Accept-Encoding: decoded on every hit.
  {
    id: 'hit-decoded-16k',
    label: 'hit 16 KiB HTML, stored br, decoded',
    path: '/hit/text-16k-decoded',
    kind: 'hit',
    defaultConnections: [64],
    storeWith: BROWSER_ACCEPT_ENCODING,
    rivals: false,
  },
  { id: 'miss', label: 'miss (no-store)', path: '/miss', kind: 'miss', defaultConnections: [64] },
  {
    id: 'miss-10ms',
    label: 'miss, 10 ms backend',
    path: '/miss-10ms',
    kind: 'miss',
    defaultConnections: [64, 1024],
  },
  // Each request a new path, cacheable for an hour: a miss whose answer is stored (a fill).
  { id: 'fill', label: 'fill 1 KiB', path: '/fill', kind: 'fill', defaultConnections: [64] },
  { id: 'stale', label: 'stale serve', path: '/stale', kind: 'stale', defaultConnections: [64] },
]

export const CASE_IDS: readonly CaseId[] = CASES.map((c) => c.id)

/**
 * Whether `target` runs `c`. The bare server only answers fixed buffers, so it is the
 * yardstick for hits; the origin direct is the yardstick for misses and fills, and the
 * bare proxy shows what node:http and undici alone cost a miss. The Redis
 * and tiered stores are compared with the memory store on the 1 KiB hit only (#6).
 */
export function appliesTo(target: TargetId, c: CaseDef): boolean {
  switch (target) {
    case 'bare-1':
    case 'bare-all':
      return c.kind === 'hit'
    case 'origin':
      return c.kind === 'miss' || c.kind === 'fill'
    case 'bare-proxy':
      return c.kind === 'miss'
    case 'edgecache-tiered':
    case 'edgecache-redis':
      return c.id === 'hit-1k'
    case 'edgecache-1':
    case 'edgecache-all':
    case 'edgecache-memory':
      return true
    case 'nginx':
    case 'varnish':
      return c.rivals !== false
  }
}

/** One measured run's identity: a case, a target, a connection count. */
export interface RunSpec {
  /** `hit-1k/edgecache-all/c64` */
  readonly id: string
  readonly case: CaseDef
  readonly target: TargetId
  readonly connections: number
}

/**
 * The runs of one round, case by case and connection count by connection count, every
 * target in turn: the targets of a comparison run minutes apart at most.
 */
export function planRuns(
  cases: readonly CaseDef[],
  targets: readonly TargetId[],
  connections: readonly number[] | undefined,
): RunSpec[] {
  return cases.flatMap((c) =>
    (connections ?? c.defaultConnections).flatMap((conns) =>
      targets
        .filter((t) => appliesTo(t, c))
        .map((target) => ({ id: `${c.id}/${target}/c${conns}`, case: c, target, connections: conns })),
    ),
  )
}
