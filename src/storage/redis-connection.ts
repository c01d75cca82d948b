/**
 * The Redis store's one way to talk to Redis: raw commands through node-redis, to a single
 * server or a Cluster, each with its own deadline, Lua scripts by SHA with a fallback to
 * EVAL, and SCAN over every master. It never lets an 'error' event go unhandled and never
 * queues commands while disconnected (a queued write could land long after its caller gave
 * up). It knows nothing of entries or tags.
 */
import { createHash } from 'node:crypto'
import { createClient, createCluster, RESP_TYPES } from 'redis'
import { EdgecacheError } from '../errors.ts'

/** What a command may be sent with and what comes back: bulk strings arrive as Buffers. */
export type RedisArg = string | Buffer
export type RedisReply = null | number | Buffer | RedisReply[]

export interface RedisConnectionOptions {
  readonly url?: string
  readonly cluster?: readonly string[]
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

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const
const COMMAND_OPTIONS = { typeMapping: BUFFERS }

/** Backs off from 50 ms to 1 s between attempts, forever: Redis may come back any time. */
function reconnectStrategy(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 5), 1_000)
}

export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  const { commandTimeoutMs } = options
  const onError = options.onError ?? (() => {})
  const socket = { connectTimeout: Math.max(commandTimeoutMs * 20, 1_000), reconnectStrategy }
  let closed = false

  type Sender = (key: string, args: readonly RedisArg[]) => Promise<unknown>
  let sendRaw: Sender
  let scanAll: (pattern: string) => Promise<string[]>
  let connect: () => Promise<unknown>
  let shutdown: () => Promise<void>

  if (options.cluster !== undefined && options.cluster.length > 0) {
    const cluster = createCluster({
      rootNodes: options.cluster.map((url) => ({ url })),
      defaults: { disableOfflineQueue: true, socket },
    })
    cluster.on('error', onError)
    sendRaw = (key, args) => cluster.sendCommand(key, false, args as RedisArg[], COMMAND_OPTIONS)
    scanAll = async (pattern) => {
      const keys: string[] = []
      for (const master of cluster.masters) {
        const client = await cluster.nodeClient(master)
        await scanNode((args) => client.sendCommand(args, COMMAND_OPTIONS), pattern, keys)
      }
      return keys
    }
    connect = () => cluster.connect()
    shutdown = () => cluster.close()
  } else {
    const client = createClient({ url: options.url, disableOfflineQueue: true, socket })
    client.on('error', onError)
    sendRaw = (_key, args) => client.sendCommand(args as RedisArg[], COMMAND_OPTIONS)
    scanAll = async (pattern) => {
      const keys: string[] = []
      await scanNode((args) => client.sendCommand(args, COMMAND_OPTIONS), pattern, keys)
      return keys
    }
    connect = () => client.connect()
    shutdown = async () => {
      if (client.isOpen) await client.close()
    }
  }

  // A Cluster client gives up when its first connect fails; try again until closed.
  let retryTimer: NodeJS.Timeout | undefined
  function startConnect(): Promise<void> {
    return connect().then(
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
    return withDeadline(String(args[0]), () => sendRaw(key, args) as Promise<RedisReply>)
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
      await shutdown().catch(onError)
    },
  }

  async function scanNode(
    run: (args: RedisArg[]) => Promise<unknown>,
    pattern: string,
    into: string[],
  ): Promise<void> {
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
