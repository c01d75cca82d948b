/**
 * A local store opened by another process on the same directory, driven over IPC, for the
 * tests of what the workers of one host share. The child (local-peer-child.ts) opens the
 * store, says it is ready, then answers each command. Bodies never cross the channel: a
 * body is a pattern derived from its key and size, so either side can build one and check
 * that what it read is whole.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import type { LocalStoreOptions } from '../../src/storage/local-store.ts'
import type { CacheStore, PurgeSelector, StoredEntry, StoreStats } from '../../src/storage/store.ts'

const childScript = new URL('./local-peer-child.ts', import.meta.url).pathname

/** The options a peer opens its store with: the directory and the byte bounds. */
export interface PeerStoreOptions extends Pick<LocalStoreOptions, 'path' | 'maxBytes' | 'mapBytes'> {
  /**
   * The child SIGKILLs itself from the store's onEvict hook, which runs inside the write
   * transaction of the set that evicts: a death known to land inside a transaction.
   */
  readonly dieOnEvict?: boolean
}

/** What one side saw under a key; bodies are summarised, not sent. */
export interface Seen {
  readonly bodyBytes: number
  /** The body is exactly the pattern its key and `meta.size` call for. */
  readonly whole: boolean
  readonly tags: readonly string[]
  readonly fetchedAt?: number
  readonly invalidatedAt?: number
}

/** A run of entries `${prefix}${i}` for i below `count`, entry i of `sizes[i % sizes.length]` bytes. */
export interface Fill {
  readonly prefix: string
  readonly count: number
  readonly sizes: readonly number[]
}

/** Every entry a fill writes carries this tag and one of five `mod<n>` tags. */
export const FILL_TAG = 'fill'

/** What a walk over fills found: the keys readable whole, those read but not whole, and the store's own view. */
export interface Audit {
  readonly readable: string[]
  readonly broken: string[]
  /** Tags carried by the readable entries, each once, sorted. */
  readonly tags: string[]
  /** Sum over readable entries of their tags. */
  readonly memberships: number
  /** keysForTag(FILL_TAG), sorted. */
  readonly tagged: string[]
  readonly stats: StoreStats
}

export type PeerCommand =
  | {
      readonly op: 'set'
      readonly key: string
      readonly size: number
      readonly tags?: readonly string[]
      readonly fetchedAt?: number
    }
  | { readonly op: 'peek' | 'get'; readonly key: string }
  | { readonly op: 'purge'; readonly selector: PurgeSelector; readonly soft: boolean }
  | { readonly op: 'fill'; readonly fill: Fill; readonly progressEvery: number }
  | { readonly op: 'read-loop'; readonly keys: readonly string[] }
  | { readonly op: 'audit'; readonly fills: readonly Fill[] }

/** Child to parent: the reply to command `id`, a progress report on it, or the store being open. */
export type PeerMessage =
  | { readonly ready: true }
  | { readonly id: number; readonly ok: true; readonly value?: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string }
  | { readonly id: number; readonly progress: number }

/** A store in a child process. Every method but `kill` rejects if the child dies first. */
export interface LocalPeer {
  readonly child: ChildProcess
  set(key: string, size: number, extra?: { tags?: readonly string[]; fetchedAt?: number }): Promise<boolean>
  peek(key: string): Promise<Seen | undefined>
  get(key: string): Promise<Seen | undefined>
  purge(selector: PurgeSelector, soft: boolean): Promise<number>
  audit(fills: readonly Fill[]): Promise<Audit>
  /**
   * Starts writing `fill`; `progress` resolves once `atLeast` sets are done (reports come
   * every `progressEvery` sets), `done` with how many were stored.
   */
  fill(
    fill: Fill,
    progressEvery: number,
  ): { progress(atLeast: number): Promise<number>; latest(): number; done: Promise<number> }
  /**
   * Holds a read transaction open and peeks `keys` over and over, never answering: a worker
   * busy serving hits. Resolves once the first pass is done.
   */
  readLoop(keys: readonly string[]): Promise<void>
  /** SIGKILL, then waits for the exit; does nothing once the child has exited. */
  kill(): Promise<void>
}

/** How long one command may take before the call gives up: the store could be stuck. */
const COMMAND_TIMEOUT_MS = 30_000
/** Starting a child includes loading tsx, which takes a while on a busy machine. */
const START_TIMEOUT_MS = 30_000

/**
 * Spawns a child that opens a local store with `options`, and resolves once it is open.
 *
 * @example
 * const peer = await startLocalPeer({ path: dir })
 * after(() => peer.kill())
 * await peer.set('k', 100)
 */
export async function startLocalPeer(options: PeerStoreOptions): Promise<LocalPeer> {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const replies = new Map<
    number,
    { resolve(value: unknown): void; reject(err: Error): void; onProgress?(n: number): void }
  >()
  let nextId = 1
  child.on('message', (raw) => {
    const message = raw as PeerMessage
    if ('ready' in message) return
    const waiter = replies.get(message.id)
    if (waiter === undefined) return
    if ('progress' in message) return waiter.onProgress?.(message.progress)
    replies.delete(message.id)
    if (message.ok) waiter.resolve(message.value)
    else waiter.reject(new Error(`local peer: ${message.error}`))
  })
  child.once('exit', (code, signal) => {
    for (const waiter of replies.values()) {
      waiter.reject(new Error(`local peer exited (${signal ?? code}) before answering`))
    }
    replies.clear()
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('local peer: not ready in time')), START_TIMEOUT_MS)
    child.on('message', (message) => {
      if ((message as { ready?: boolean }).ready === true) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`local peer exited (${signal ?? code}) before it was ready`))
    })
  })

  function send(command: PeerCommand, onProgress?: (n: number) => void, timeoutMs = COMMAND_TIMEOUT_MS) {
    const id = nextId++
    return new Promise<unknown>((resolve, reject) => {
      const timer =
        timeoutMs === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(() => {
              replies.delete(id)
              reject(new Error(`local peer: ${command.op} not answered within ${timeoutMs} ms`))
            }, timeoutMs)
      const done = () => clearTimeout(timer)
      replies.set(id, {
        resolve: (value) => {
          done()
          resolve(value)
        },
        reject: (err) => {
          done()
          reject(err)
        },
        onProgress,
      })
      child.send({ id, ...command })
    })
  }
  const seen = (value: unknown) => (value ?? undefined) as Seen | undefined

  return {
    child,
    async set(key, size, extra = {}) {
      return (await send({ op: 'set', key, size, ...extra })) as boolean
    },
    async peek(key) {
      return seen(await send({ op: 'peek', key }))
    },
    async get(key) {
      return seen(await send({ op: 'get', key }))
    },
    async purge(selector, soft) {
      return (await send({ op: 'purge', selector, soft })) as number
    },
    async audit(fills) {
      return (await send({ op: 'audit', fills })) as Audit
    },
    fill(fill, progressEvery) {
      let latest = 0
      const waiting: { atLeast: number; resolve(n: number): void }[] = []
      const done = send(
        { op: 'fill', fill, progressEvery },
        (n) => {
          latest = n
          for (const w of waiting.filter((w) => w.atLeast <= n)) {
            waiting.splice(waiting.indexOf(w), 1)
            w.resolve(n)
          }
        },
        Number.POSITIVE_INFINITY,
      ) as Promise<number>
      return {
        latest: () => latest,
        done,
        progress: (atLeast) =>
          latest >= atLeast
            ? Promise.resolve(latest)
            : Promise.race([
                new Promise<number>((resolve) => waiting.push({ atLeast, resolve })),
                // A fill that ends (or dies) short of `atLeast` never reports it.
                done.then(
                  () =>
                    Promise.reject(
                      new Error(`local peer: fill ended at ${latest} sets, short of ${atLeast}`),
                    ),
                  (err: Error) => Promise.reject(err),
                ),
              ]),
      }
    },
    readLoop(keys) {
      return new Promise<void>((resolve, reject) => {
        send({ op: 'read-loop', keys }, () => resolve(), Number.POSITIVE_INFINITY).then(
          () => reject(new Error('local peer: read loop ended')),
          reject,
        )
      })
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await exited
    },
  }
}

/** The body of `size` bytes stored under `key`: the key, repeated, so no two keys' bodies match. */
export function bodyFor(key: string, size: number): Buffer {
  return Buffer.alloc(size, `${key};`)
}

/** The entry a side stores under `key`: a `size`-byte body, meta `{ size }`, an hour to live. */
export function entryFor(
  key: string,
  size: number,
  extra: { tags?: readonly string[]; fetchedAt?: number } = {},
): StoredEntry {
  return {
    meta: { size },
    body: bodyFor(key, size),
    expiresAt: Date.now() + 3_600_000,
    ...(extra.tags !== undefined && { tags: extra.tags }),
    ...(extra.fetchedAt !== undefined && { fetchedAt: extra.fetchedAt }),
  }
}

/** What `entry`, read under `key`, looks like. */
export function seenOf(key: string, entry: StoredEntry | undefined): Seen | undefined {
  if (entry === undefined) return undefined
  const size = entry.meta.size
  return {
    bodyBytes: entry.body.length,
    whole: typeof size === 'number' && entry.body.equals(bodyFor(key, size)),
    tags: entry.tags ?? [],
    ...(entry.fetchedAt !== undefined && { fetchedAt: entry.fetchedAt }),
    ...(entry.invalidatedAt !== undefined && { invalidatedAt: entry.invalidatedAt }),
  }
}

/** Key, size and tags of entry `i` of `fill`. */
export function fillEntry(fill: Fill, i: number): { key: string; size: number; tags: string[] } {
  return {
    key: `${fill.prefix}${i}`,
    size: fill.sizes[i % fill.sizes.length] ?? 1,
    tags: [FILL_TAG, `mod${i % 5}`],
  }
}

/** Reads every key `fills` could have written and checks each body against its key and size. */
export async function auditFills(store: CacheStore, fills: readonly Fill[]): Promise<Audit> {
  const readable: string[] = []
  const broken: string[] = []
  const tags = new Set<string>()
  let memberships = 0
  for (const fill of fills) {
    for (let i = 0; i < fill.count; i++) {
      const { key, size } = fillEntry(fill, i)
      const entry = await store.get(key)
      if (entry === undefined) continue
      if (entry.body.length === size && entry.body.equals(bodyFor(key, size))) readable.push(key)
      else broken.push(key)
      for (const tag of entry.tags ?? []) tags.add(tag)
      memberships += entry.tags?.length ?? 0
    }
  }
  return {
    readable: readable.sort(),
    broken,
    tags: [...tags].sort(),
    memberships,
    tagged: (await store.keysForTag(FILL_TAG)).sort(),
    stats: store.stats(),
  }
}
