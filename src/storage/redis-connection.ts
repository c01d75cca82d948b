/**
 * The Redis store's one way to talk to Redis: raw commands through node-redis, to a single
 * server, a Cluster or the master Sentinel names (redis-topology.ts builds the clients), each
 * with its own deadline, Lua scripts by SHA with a fallback to EVAL, and SCAN over every
 * master. It never lets an 'error' event go unhandled and never queues commands while
 * disconnected (a queued write could land long after its caller gave up). It knows nothing
 * of entries or tags.
 */
import { createHash } from 'node:crypto'
import { EdgecacheError } from '../errors.ts'
import { createCommandClient, type RedisArg, type RedisSender, type RedisTarget } from './redis-topology.ts'

export type { RedisArg } from './redis-topology.ts'
/** What comes back: bulk strings arrive as Buffers. */
export type RedisReply = null | number | Buffer | RedisReply[]

export interface RedisConnectionOptions extends RedisTarget {
  readonly commandTimeoutMs: number
  /** Told of connection errors; the client reconnects by itself. */
  readonly onError?: (err: unknown) => void
}

export interface LuaScript {
  readonly source: string
  readonly sha: string
}

export interface RedisConnection {
  /** Sends `args`, routed by `key` in a Cluster; rejects with EC_ERR_STORAGE_UNAVAILABLE on error or deadline. */
  send(key: string, args: readonly RedisArg[]): Promise<RedisReply>
  /** Runs `script` with `keys` (all in one slot) and `args`. */
  eval(script: LuaScript, keys: readonly string[], args: readonly RedisArg[]): Promise<RedisReply>
  /** Every key matching the glob `pattern`, on every master; may repeat a key. */
  scan(pattern: string): Promise<string[]>
  /** Resolves once connected, or rejects after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export function defineLua(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  const { commandTimeoutMs } = options
  const onError = options.onError ?? (() => {})
  const client = createCommandClient(options, {
    failFast: true,
    connectTimeoutMs: Math.max(commandTimeoutMs * 20, 1_000),
    onError,
  })
  let closed = false
  const scanAll = async (pattern: string) => {
    const keys: string[] = []
    for (const master of await client.masters()) await scanNode(master, pattern, keys)
    return keys
  }

  // A Cluster or Sentinel client gives up when its first connect fails; try again until closed.
  let retryTimer: NodeJS.Timeout | undefined
  function startConnect(): Promise<void> {
    return client.connect().then(
      () => undefined,
      (err: unknown) => {
        onError(err)
        if (closed) throw err
        return new Promise<void>((resolve, reject) => {
          retryTimer = setTimeout(() => startConnect().then(resolve, reject), 1_000)
          retryTimer.unref()
        })
      },
    )
  }
  const connected = startConnect()
  connected.catch(() => {})

  /** Runs `run` with a deadline of commandTimeoutMs; any failure becomes EC_ERR_STORAGE_UNAVAILABLE. */
  function withDeadline<T>(what: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', [
              `redis ${what} timed out after ${commandTimeoutMs} ms`,
            ]),
          ),
        commandTimeoutMs,
      )
      let pending: Promise<T>
      try {
        pending = run()
      } catch (err) {
        pending = Promise.reject(err)
      }
      pending.then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (err: unknown) => {
          clearTimeout(timer)
          reject(
            new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', [`redis ${what}: ${message(err)}`], {
              cause: err,
            }),
          )
        },
      )
    })
  }

  function send(key: string, args: readonly RedisArg[]): Promise<RedisReply> {
    if (closed)
      return Promise.reject(new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['redis store is closed']))
    return withDeadline(String(args[0]), () => client.send(key, args) as Promise<RedisReply>)
  }

  return {
    send,
    async eval(script, keys, args) {
      const key = keys[0] ?? ''
      try {
        return await send(key, ['EVALSHA', script.sha, String(keys.length), ...keys, ...args])
      } catch (err) {
        if (!message(err).includes('NOSCRIPT')) throw err
        return send(key, ['EVAL', script.source, String(keys.length), ...keys, ...args])
      }
    },
    scan(pattern) {
      if (closed)
        return Promise.reject(new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['redis store is closed']))
      // One deadline per SCAN page: a large keyspace takes many pages.
      return scanAll(pattern)
    },
    ready(timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', [`redis not connected after ${timeoutMs} ms`]),
            ),
          timeoutMs,
        )
        connected.then(
          () => {
            clearTimeout(timer)
            resolve()
          },
          (err: unknown) => {
            clearTimeout(timer)
            reject(err)
          },
        )
      })
    },
    async close() {
      if (closed) return
      closed = true
      clearTimeout(retryTimer)
      await client.close().catch(onError)
    },
  }

  async function scanNode(run: RedisSender, pattern: string, into: string[]): Promise<void> {
    let cursor = '0'
    do {
      const reply = (await withDeadline('SCAN', () =>
        run(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000']),
      )) as [Buffer, Buffer[]]
      cursor = reply[0].toString()
      for (const key of reply[1]) into.push(key.toString())
    } while (cursor !== '0')
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
