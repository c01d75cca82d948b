/**
 * Handing glibc's free memory back to the system. Node's native side (socket reads, TLS,
 * zlib, the memory behind Buffers) allocates with malloc. glibc returns memory freed at
 * the top of its heap by itself, but memory freed between allocations still in use stays
 * resident until `malloc_trim` gives its whole pages back: after a burst of 1,024
 * connections, 18 MiB of a worker's 63 MiB, a quarter of a minute later
 * (docs/benchmarks.md, "Memory given back after a burst").
 *
 * Node has no binding for it, so it is called through koffi, a maintained FFI whose
 * binaries come prebuilt per platform. koffi is loaded on the first trim, so a process
 * that never has a busy spell never loads it. Where there is no glibc (musl, macOS) the
 * library does not load and every trim does nothing.
 */
import { lazyRequire } from './lazy-require.ts'

const koffi = lazyRequire<typeof import('koffi')>('koffi')

/**
 * Returns a function that runs `malloc_trim(0)` and says whether it could. The library
 * is bound on the first call; if that fails, that call and every later one return false.
 */
export function nativeHeapTrimmer(): () => boolean {
  // undefined: not bound yet; null: binding failed, so there is nothing to call.
  let mallocTrim: ((pad: number) => number) | null | undefined
  return () => {
    if (mallocTrim === undefined) mallocTrim = bindMallocTrim()
    if (mallocTrim === null) return false
    mallocTrim(0)
    return true
  }
}

function bindMallocTrim(): ((pad: number) => number) | null {
  try {
    return koffi().load('libc.so.6').func('int malloc_trim(size_t)') as (pad: number) => number
  } catch {
    return null
  }
}
