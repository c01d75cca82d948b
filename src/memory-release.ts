/**
 * Giving memory back after a busy spell. Under load V8 grows its heap (most of all the
 * young generation, up to tens of MiB per semi-space), and once the load has passed it
 * keeps what it took: a worker measured 45 MiB of anonymous memory after start, 185–195
 * MiB after a burst of 1,024 connections, and still 185–195 MiB a minute later. A full
 * collection that aims at the footprint (what V8 runs when the system is short of memory)
 * brought it back to 62–69 MiB there. Most of what stayed was glibc's: memory that node's
 * native side freed between allocations still in use, which `malloc_trim` hands back
 * (src/native-heap.ts): 44–45 MiB after both (docs/benchmarks.md).
 *
 * So each process watches how many requests it finishes per window: after a window with
 * more than one a second (busy), the first window with one a second or fewer (quiet) runs
 * that collection and then the trim, once. Together they take about a tenth of a second,
 * on a process that is serving about nothing; steady traffic of either kind never triggers
 * them, and they run again only after another busy window. Start-up counts as a busy
 * spell: loading and compiling the code leaves garbage and free memory behind too (a
 * worker held 45–47 MiB after start, 31–33 MiB after a release).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { nativeHeapTrimmer } from './native-heap.ts'
import { roundMs } from './observability/access-log.ts'

/**
 * What a release tells its log: the V8 heap's size and the process's resident memory
 * before and after, and how long it took (to the microsecond).
 */
export interface MemoryReleased {
  readonly heapBeforeBytes: number
  readonly heapAfterBytes: number
  readonly residentBeforeBytes: number
  readonly residentAfterBytes: number
  readonly durationMs: number
}

export interface MemoryReleaseOptions {
  /** Milliseconds per window; 0 turns it off. */
  readonly windowMs: number
  /** Requests this process has finished so far. */
  readonly finishedRequests: () => number
  /** Gives the memory back (tests pass their own). @default releaseForFootprint() */
  readonly collect?: (() => void) | undefined
  readonly onReleased: (released: MemoryReleased) => void
}

/** Starts watching; returns a function that stops it (on shutdown). */
export function releaseMemoryWhenQuiet(options: MemoryReleaseOptions): () => void {
  const { windowMs, finishedRequests, onReleased } = options
  if (windowMs <= 0) return () => {}
  const collect = options.collect ?? releaseForFootprint()
  // More than this many requests in a window is a busy one: one a second on average.
  const quietMost = Math.max(1, Math.floor(windowMs / 1_000))
  let counted = finishedRequests()
  // Start-up was busy: the first quiet window gives back what it left.
  let busySinceRelease = true
  const timer = setInterval(() => {
    const now = finishedRequests()
    const inWindow = now - counted
    counted = now
    if (inWindow > quietMost) {
      busySinceRelease = true
      return
    }
    if (!busySinceRelease) return
    busySinceRelease = false
    const heapBeforeBytes = getHeapStatistics().total_heap_size
    const residentBeforeBytes = process.memoryUsage.rss()
    const started = performance.now()
    collect()
    onReleased({
      heapBeforeBytes,
      heapAfterBytes: getHeapStatistics().total_heap_size,
      residentBeforeBytes,
      residentAfterBytes: process.memoryUsage.rss(),
      durationMs: roundMs(performance.now() - started),
    })
  }, windowMs)
  timer.unref()
  return () => clearInterval(timer)
}

/**
 * The collection below, then the native heap's trim: the collection frees the memory
 * behind dropped Buffers, which the trim can then hand back.
 */
export function releaseForFootprint(): () => void {
  const collect = collectForFootprint()
  const trim = nativeHeapTrimmer()
  return () => {
    collect?.()
    trim()
  }
}

/** V8's `gc()` with its options (the `--expose-gc` extension). */
type GcFunction = (options: {
  readonly type: 'major'
  readonly execution: 'sync'
  readonly flavor: 'last-resort'
}) => void

/**
 * A full collection that gives memory back: `gc()` with the `last-resort` flavour, which
 * also shrinks the young generation and returns free pages. `gc` is taken from a context
 * made while `--expose-gc` is on, so the process's own global gets none. Undefined if V8
 * will not give it (the release then only trims).
 */
export function collectForFootprint(): (() => void) | undefined {
  let gc: unknown
  try {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc')
  } catch {
    return undefined
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
  if (typeof gc !== 'function') return undefined
  const collect = gc as GcFunction
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}
