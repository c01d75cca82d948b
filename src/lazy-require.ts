/**
 * Loads a CommonJS dependency on first use rather than at start. Each one edgecache only
 * sometimes needs (yaml for a YAML file, scslre for a route regex) would otherwise add
 * megabytes of code to every process's resident memory at start, used or not.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/**
 * Returns a function that requires `specifier` the first time it is called.
 *
 * @example
 * const yaml = lazyRequire<typeof import('yaml')>('yaml')
 * yaml().parse(text)
 */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined
  return () => {
    loaded ??= require(specifier) as T
    return loaded
  }
}
