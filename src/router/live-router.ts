/**
 * The routes in force, swapped atomically on reload: a file change (watched), SIGHUP, or
 * the admin endpoint. A reload parses, validates and compiles the whole file first; an
 * invalid file leaves the old routes in place and is logged and reported. Requests read the
 * router once, so those in flight finish with the routes they started with.
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs'
import { dirname } from 'node:path'
import { checkRoutesFile, compileChecked, loadRoutes } from './load.ts'
import { parseRouteFile } from './route-file.ts'
import type { Router } from './route.ts'
import type { KnownPools } from './route-upstreams.ts'

export type ReloadResult =
  | { readonly ok: true; readonly routes: number }
  | { readonly ok: false; readonly problems: readonly string[] }

export interface LiveRouter {
  current(): Router
  /** Reloads the file now; without a route file there is nothing to reload. */
  reload(trigger: 'watch' | 'signal' | 'admin'): ReloadResult
  close(): void
}

export interface LiveRouterOptions {
  /** The route file; undefined runs with the default route only. */
  readonly path: string | undefined
  /** The config's pools: a route naming another is refused, at start and on reload. */
  readonly pools?: KnownPools
  /** Watch the file and reload when it changes. @default true */
  readonly watch?: boolean
  readonly log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void }
  /** Told of every reload attempt, for metrics. */
  onReload?(result: ReloadResult, trigger: string): void
}

/** Editors write a file in bursts (truncate, write, rename); one reload after they settle. */
const SETTLE_MS = 100

/**
 * Loads the route file (throwing, as config does, when it is invalid at start) and keeps it
 * current.
 * @example
 * const routes = createLiveRouter({ path: config.routes, log })
 * const match = routes.current().match('GET', 'shop.example', '/p/42')
 */
export function createLiveRouter(options: LiveRouterOptions): LiveRouter {
  const { path, log } = options
  const { pools } = options
  let router: Router =
    path === undefined ? compileChecked(parseRouteFile({ routes: [] }), pools) : loadRoutes(path, pools)
  let watcher: FSWatcher | undefined
  let timer: NodeJS.Timeout | undefined

  // The file's text as last read by a reload of any kind: the watcher reloads only when the
  // file now says something else.
  let text = path === undefined ? undefined : readText(path)
  const reload = (trigger: 'watch' | 'signal' | 'admin'): ReloadResult => {
    if (path === undefined) return { ok: false, problems: ['no route file is configured (routes)'] }
    text = readText(path)
    const checked = checkRoutesFile(path, pools)
    const result: ReloadResult = checked.ok
      ? { ok: true, routes: checked.router.size }
      : { ok: false, problems: checked.problems }
    if (checked.ok) {
      router = checked.router
      log.info({ trigger, routes: checked.router.size }, 'routes reloaded')
    } else {
      log.error({ trigger, problems: checked.problems }, 'route file rejected, keeping the routes in force')
    }
    options.onReload?.(result, trigger)
    return result
  }

  if (path !== undefined && options.watch !== false) {
    // Watch the directory, not the file: an editor that saves by rename replaces the inode
    // a file watch would follow, and a Kubernetes ConfigMap changes no file of that name at
    // all: it swaps the `..data` symlink the file's own symlink goes through. So any change
    // in the directory leads to a look at the file's text, and a reload when it differs.
    const check = (recheck: boolean) => {
      if (readText(path) === text) return
      // A file written in place may be read half-written; look once more a little later,
      // in case the last write brought no event of its own.
      if (!reload('watch').ok && recheck) schedule(SETTLE_MS * 5, false)
    }
    const schedule = (ms: number, recheck: boolean) => {
      clearTimeout(timer)
      timer = setTimeout(() => check(recheck), ms)
      timer.unref()
    }
    watcher = watch(dirname(path), () => schedule(SETTLE_MS, true))
    watcher.unref()
  }

  return {
    current: () => router,
    reload,
    close() {
      clearTimeout(timer)
      watcher?.close()
    },
  }
}

/** The file's text through any symlinks; undefined while it cannot be read (mid-swap). */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}
