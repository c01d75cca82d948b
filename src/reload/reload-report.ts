/**
 * What a reload did, in one worker and summed over the workers of an instance. Plain data:
 * it crosses the cluster IPC channel and becomes the answer of `POST /reload`.
 */

/** `config`: the config file, environment and flags, then the route file. `routes`: the route file only. */
export type ReloadScope = 'config' | 'routes'

/** What asked for it, for the log: SIGHUP, or the admin endpoint. */
export type ReloadTrigger = 'signal' | 'admin'

/** One worker's reload. */
export interface WorkerReload {
  readonly ok: boolean
  /** Fields that changed but apply only after a restart (dotted paths). */
  readonly restartNeeded: readonly string[]
  /** Why the new config or route file was refused; the one in force stays. */
  readonly problems: readonly string[]
  /** Routes in force afterwards. */
  readonly routes: number
}

/** Every worker's reload, summed. */
export interface ReloadReport {
  /** True when every worker took the new config. */
  readonly reloaded: boolean
  /** How many workers applied it. */
  readonly workers: number
  /** Of how many asked. */
  readonly of: number
  readonly restartNeeded: readonly string[]
  readonly problems: readonly string[]
  readonly routes: number
}

/** Sums the workers' results; a worker that did not answer is counted in `of` only. */
export function sumReloads(
  results: readonly WorkerReload[],
  asked: number,
  missing: readonly string[] = [],
): ReloadReport {
  const applied = results.filter((result) => result.ok)
  const unique = (lists: readonly (readonly string[])[]) => [...new Set(lists.flat())].sort()
  return {
    reloaded: asked > 0 && applied.length === asked,
    workers: applied.length,
    of: asked,
    restartNeeded: unique(applied.map((result) => result.restartNeeded)),
    problems: unique([...results.map((result) => result.problems), missing]),
    routes: applied[0]?.routes ?? 0,
  }
}
