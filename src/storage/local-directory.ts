/**
 * The cache directory of the local store: who holds it, and what happens to a store in it
 * that cannot be used. One instance (a primary and its workers, or one process) holds a
 * directory at a time; it writes its pid to `instance.pid`, and another instance started on
 * the directory is refused while that process lives. A store written by another format, or
 * one LMDB cannot open, is moved aside to `store.set-aside/` with one log line, and the
 * instance starts empty: a cache is worth less than starting.
 */
import { spawnSync } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EdgecacheError } from '../errors.ts'
import { createLocalStore, type LocalStore, type LocalStoreOptions } from './local-store.ts'

export interface DirectoryLog {
  warn(obj: object, msg: string): void
}

/** The hold on a cache directory; `release` removes the pid file if it is still ours. */
export interface DirectoryClaim {
  release(): void
}

/**
 * Claims `dir` for this process (and the workers it starts). Throws
 * EC_ERR_STORAGE_DIRECTORY_IN_USE, naming the directory and the pid, when a live process
 * holds it. A pid file left by a process that is gone is taken over.
 */
export function claimDirectory(dir: string): DirectoryClaim {
  mkdirSync(dir, { recursive: true })
  const pidFile = join(dir, 'instance.pid')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(pidFile, `${process.pid}\n`, { flag: 'wx' })
      return {
        release() {
          if (holderOf(pidFile) === process.pid) unlinkSync(pidFile)
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = holderOf(pidFile)
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new EdgecacheError('EC_ERR_STORAGE_DIRECTORY_IN_USE', [resolve(dir), String(holder)])
      }
      // Left by a process that is gone (or unreadable): take it over.
      rmSync(pidFile, { force: true })
    }
  }
  throw new EdgecacheError('EC_ERR_STORAGE_DIRECTORY_IN_USE', [resolve(dir), 'another process'])
}

/**
 * Opens the local store in `options.path`. With `setAside`, a store that cannot be opened
 * (another format, a file that is not LMDB's) is moved to `store.set-aside/`, replacing any
 * older one, and a new empty store is opened; without it the error is thrown (workers leave
 * that decision to the process that started them, which has already made it).
 */
export function openLocalStore(options: LocalStoreOptions, log: DirectoryLog, setAside: boolean): LocalStore {
  if (setAside && !hasLmdbHeader(options.path)) setStoreAside(options.path, log, 'not an LMDB data file')
  try {
    return createLocalStore(options)
  } catch (err) {
    if (!setAside || (err as { code?: string }).code === 'EC_ERR_CONFIG_INVALID') throw err
    setStoreAside(options.path, log, err instanceof Error ? err.message : String(err))
    return createLocalStore(options)
  }
}

/**
 * Makes the store in `path` ready before any worker opens it. A new one is created here:
 * LMDB can fail ("mdb_page_touch no parent") when two processes create one environment at
 * once, as two workers starting together would. An existing one is checked and set aside if
 * it is not usable; LMDB trusts its file, and a damaged one can crash the process that reads
 * it, so the deep check (open, read every record) runs in a child process, whose crash costs
 * nothing but the set-aside store.
 */
export async function prepareLocalStore(path: string, log: DirectoryLog): Promise<void> {
  if (!existsSync(join(path, 'store', 'data.mdb'))) {
    await createLocalStore({ path }).close()
    return
  }
  if (!hasLmdbHeader(path)) {
    setStoreAside(path, log, 'not an LMDB data file')
    await createLocalStore({ path }).close()
    return
  }
  const here = fileURLToPath(import.meta.url)
  const checker = join(here, '..', `local-check${extname(here)}`)
  const run = spawnSync(process.execPath, [...process.execArgv, checker, path], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
  })
  if (run.status === 0) return
  const why =
    run.stderr.toString().trim().split('\n').at(-1) || `check ended with ${run.signal ?? run.status}`
  setStoreAside(path, log, why)
  await createLocalStore({ path }).close()
}

/** Moves `path`/store to `path`/store.set-aside (replacing an older one), with one log line. */
function setStoreAside(path: string, log: DirectoryLog, reason: string): void {
  const from = join(path, 'store')
  const to = join(path, 'store.set-aside')
  rmSync(to, { recursive: true, force: true })
  renameSync(from, to)
  log.warn(
    { path: resolve(path), setAside: resolve(to), reason },
    'local store unusable, set aside; starting empty',
  )
}

/** LMDB's magic number, in each of the two meta pages that open its data file. */
const LMDB_MAGIC = 0xbeefc0de
const META_MAGIC_OFFSET = 24
const META_PAGE_BYTES = 4_096

/** Whether the data file, if there is one, starts as LMDB's do: both meta pages carry its magic. */
function hasLmdbHeader(path: string): boolean {
  const file = join(path, 'store', 'data.mdb')
  if (!existsSync(file)) return true
  const fd = openSync(file, 'r')
  try {
    const head = Buffer.alloc(META_PAGE_BYTES * 2)
    const read = readSync(fd, head, 0, head.length, 0)
    if (read === 0) return true
    return (
      read === head.length &&
      head.readUInt32LE(META_MAGIC_OFFSET) === LMDB_MAGIC &&
      head.readUInt32LE(META_PAGE_BYTES + META_MAGIC_OFFSET) === LMDB_MAGIC
    )
  } finally {
    closeSync(fd)
  }
}

function holderOf(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
