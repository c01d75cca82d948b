/**
 * Turns where Redis is (one URL, Cluster seeds or a Sentinel-monitored master), its TLS trust
 * and its credentials into node-redis clients with one face, so the connection (commands)
 * and the invalidation bus (pub/sub) reach every topology the same way. It knows nothing of
 * entries, deadlines or what a channel carries.
 */
import type { ConnectionOptions } from 'node:tls'
import { createClient, createCluster, createSentinel, RESP_TYPES } from 'redis'

/** What a command may be sent with. */
export type RedisArg = string | Buffer

/** A master watched by Redis Sentinel. */
export interface RedisSentinelTarget {
  /** The master name the sentinels monitor (`sentinel monitor <name> …`). */
  readonly name: string
  /**
   * `redis://` or `rediss://` URLs of some sentinels; more are discovered. User info in the
   * first URL that has any authenticates to every sentinel. `rediss://` means TLS for the
   * sentinels and the data nodes alike.
   */
  readonly sentinels: readonly string[]
  /** ACL user for the master and replicas (not the sentinels). */
  readonly username?: string | undefined
  /** Password for the master and replicas (not the sentinels). */
  readonly password?: string | undefined
}

/** PEM contents for `rediss://` connections. */
export interface RedisTlsOptions {
  /** CA certificates trusted besides the system's (a private CA). */
  readonly ca?: string | Buffer | undefined
  /** Client certificate and its key, for servers that ask for one (`tls-auth-clients`). */
  readonly cert?: string | Buffer | undefined
  readonly key?: string | Buffer | undefined
}

/** Where Redis is: exactly one of `url`, `cluster` (not empty) and `sentinel`. */
export interface RedisTarget {
  /** A single server: `redis://[user:password@]host:port[/db]` or `rediss://`. */
  readonly url?: string | undefined
  /** Seed URLs of a Cluster; user info and scheme of the first apply to every node. */
  readonly cluster?: readonly string[] | undefined
  readonly sentinel?: RedisSentinelTarget | undefined
  /** Applies to `rediss://` connections only. */
  readonly tls?: RedisTlsOptions | undefined
}

/** Sends one command to one node and resolves with its reply. */
export type RedisSender = (args: RedisArg[]) => Promise<unknown>

/** Commands to the master that owns a key, whatever the topology. */
export interface RedisCommandClient {
  /** Sends `args`, routed by `key` in a Cluster; bulk strings come back as Buffers. */
  send(key: string, args: readonly RedisArg[]): Promise<unknown>
  /** A sender for each master, for commands every master must run (SCAN). */
  masters(): Promise<RedisSender[]>
  /** Connects, or rejects; may be called again after a rejection. */
  connect(): Promise<void>
  close(): Promise<void>
}

/** A subscribed connection to the master (a Cluster's pub/sub node), following failovers. */
export interface RedisSubscriber {
  subscribe(channel: string, listener: (message: string) => void): Promise<void>
  connect(): Promise<void>
  close(): Promise<void>
}

export interface RedisClientOptions {
  /** Refuse commands while disconnected instead of queueing them. */
  readonly failFast: boolean
  readonly connectTimeoutMs?: number
  /** Told of connection errors; the clients reconnect by themselves. */
  readonly onError: (err: unknown) => void
  /** Told each time a subscriber is (again) connected and subscribed. */
  readonly onReady?: () => void
}

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const

/** Backs off from 50 ms to 1 s between attempts, forever: Redis may come back any time. */
function reconnectStrategy(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 5), 1_000)
}

/** How long a close waits for replies in flight before it drops the connections. */
const CLOSE_GRACE_MS = 1_000

/**
 * Closes `client` gracefully, but for at most CLOSE_GRACE_MS, then drops its sockets: a
 * connection the server has half refused (a TLS client certificate rejected after the
 * handshake) or a node that stopped answering must not hold up shutdown.
 */
async function closeWithin(client: {
  readonly isOpen: boolean
  close(): Promise<unknown>
  destroy(): unknown
}): Promise<void> {
  if (!client.isOpen) return
  let timer: NodeJS.Timeout | undefined
  const graceful = client.close().then(
    () => true,
    () => false,
  )
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS)
  })
  const closed = await Promise.race([graceful, late])
  clearTimeout(timer)
  if (!closed && client.isOpen) await client.destroy()
}

/** True when the topology's URLs ask for TLS. The config checks they agree with each other. */
export function usesTls(target: RedisTarget): boolean {
  const first = target.url ?? target.cluster?.[0] ?? target.sentinel?.sentinels[0] ?? ''
  return first.startsWith('rediss:')
}

/** Socket options for every node: deadlines, backoff and, for rediss://, TLS with `tls`'s trust. */
function socketOptions(target: RedisTarget, options: RedisClientOptions) {
  const base = {
    reconnectStrategy,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeout: options.connectTimeoutMs }),
  }
  if (!usesTls(target)) return base
  const { ca, cert, key } = target.tls ?? {}
  const tls: ConnectionOptions = {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  }
  return { ...base, ...tls, tls: true as const }
}

/** The user and password in a URL's user info, decoded; empty parts are left out. */
export function credentialsOf(url: string | undefined): { username?: string; password?: string } {
  if (url === undefined) return {}
  const u = new URL(url)
  return {
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
  }
}

function nodeOf(url: string): { host: string; port: number } {
  const u = new URL(url)
  // Brackets are URL syntax, not part of an IPv6 address.
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port === '' ? 26379 : Number(u.port) }
}

/**
 * Builds the command client for `target`. Nothing connects until `connect()`.
 *
 * @example
 * const client = createCommandClient({ url: 'redis://127.0.0.1:6379' }, { failFast: true, onError })
 * await client.connect()
 * await client.send('k', ['GET', 'k'])
 */
export function createCommandClient(target: RedisTarget, options: RedisClientOptions): RedisCommandClient {
  const socket = socketOptions(target, options)
  const disableOfflineQueue = options.failFast
  if (target.sentinel !== undefined) return sentinelCommandClient(target.sentinel, socket, options)
  if (target.cluster !== undefined && target.cluster.length > 0) {
    const cluster = createCluster({
      rootNodes: target.cluster.map((url) => ({ url })),
      // Nodes found from the slots map get no URL: credentials and TLS come from here.
      defaults: { disableOfflineQueue, socket, ...credentialsOf(target.cluster[0]) },
    })
    cluster.on('error', options.onError)
    return {
      send: (key, args) => cluster.sendCommand(key, false, [...args], BUFFERS),
      async masters() {
        const senders: RedisSender[] = []
        for (const master of cluster.masters) {
          const client = await cluster.nodeClient(master)
          senders.push((args) => client.sendCommand(args, BUFFERS))
        }
        return senders
      },
      connect: async () => {
        await cluster.connect()
      },
      close: () => closeWithin(cluster),
    }
  }
  const client = createClient({ url: target.url, disableOfflineQueue, socket })
  client.on('error', options.onError)
  const sender: RedisSender = (args) => client.sendCommand(args, BUFFERS)
  return {
    send: (_key, args) => sender([...args]),
    masters: async () => [sender],
    connect: async () => {
      await client.connect()
    },
    close: () => closeWithin(client),
  }
}

type SocketOptions = ReturnType<typeof socketOptions>

function sentinelOptions(target: RedisSentinelTarget, socket: SocketOptions, failFast: boolean) {
  const sentinelAuth = credentialsOf(
    target.sentinels.find((url) => credentialsOf(url).password !== undefined),
  )
  return {
    name: target.name,
    sentinelRootNodes: target.sentinels.map(nodeOf),
    nodeClientOptions: {
      disableOfflineQueue: failFast,
      socket,
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
    },
    // node-redis makes sentinel connections without reconnecting; it moves to another sentinel instead.
    sentinelClientOptions: { socket, ...sentinelAuth },
    // The master's connection errors reach our 'error' listener too.
    passthroughClientErrorEvents: true,
    // No retries inside node-redis: a command has its own deadline, and a first connect that
    // fails is retried here with a fresh client (node-redis cannot reopen a failed one, and
    // logs each of its own retries to stdout).
    maxCommandRediscovers: 0,
  }
}

/** Where Sentinel says the master is. */
interface RedisNode {
  readonly host: string
  readonly port: number
}

function sentinelCommandClient(
  target: RedisSentinelTarget,
  socket: SocketOptions,
  options: RedisClientOptions,
  onMasterChange?: (node: RedisNode) => void,
): RedisCommandClient {
  const build = () => {
    const sentinel = createSentinel(sentinelOptions(target, socket, options.failFast))
    sentinel.on('error', options.onError)
    sentinel.on('topology-change', (event: { type: string; node?: RedisNode }) => {
      if (event.type === 'MASTER_CHANGE' && event.node !== undefined) onMasterChange?.(event.node)
    })
    return sentinel
  }
  let sentinel = build()
  let usable = true
  let closed = false
  const sender: RedisSender = (args) => sentinel.sendCommand(false, args, BUFFERS)
  return {
    send: (_key, args) => sender([...args]),
    masters: async () => [sender],
    async connect() {
      // A retry scheduled before close() must not open a fresh client after it.
      if (closed) throw new Error('redis sentinel client closed')
      if (!usable) {
        sentinel = build()
        usable = true
      }
      try {
        await sentinel.connect()
      } catch (err) {
        usable = false
        await sentinel.destroy().catch(() => {})
        throw err
      }
    },
    async close() {
      closed = true
      await closeWithin(sentinel)
    },
  }
}

/**
 * Builds a subscriber for `target`: a single connection to the server or the Cluster, or,
 * under Sentinel, a plain connection to the current master that moves when Sentinel names a
 * new one. `onReady` is called after each (re)connection, `onError` on each loss.
 */
export function createSubscriber(target: RedisTarget, options: RedisClientOptions): RedisSubscriber {
  const socket = socketOptions(target, options)
  if (target.sentinel !== undefined) return sentinelSubscriber(target.sentinel, socket, options)
  const client =
    target.cluster !== undefined && target.cluster.length > 0
      ? createCluster({
          rootNodes: target.cluster.map((url) => ({ url })),
          defaults: { socket, ...credentialsOf(target.cluster[0]) },
        })
      : createClient({ url: target.url, socket })
  client.on('error', options.onError)
  // A single client says when it is back; node-redis restores its subscriptions.
  client.on('ready', () => options.onReady?.())
  return {
    subscribe: async (channel, listener) => {
      await client.subscribe(channel, listener)
    },
    connect: async () => {
      await client.connect()
    },
    close: () => closeWithin(client),
  }
}

/**
 * Follows the master. node-redis's own Sentinel pub/sub reconnects silently, so the bus
 * could not tell when it is back after a restart in place; instead a Sentinel client says
 * where the master is and when it moves, and the subscription is a plain client on that
 * node, whose 'ready' says when it is back.
 *
 * The Sentinel client learns of a move from the sentinels' `+switch-master` notice, but
 * drops a notice that arrives while it is still asking about an earlier one that failed
 * (mid-failover the sentinels answer "no valid master"). A command sent through it
 * rediscovers the master instead, so while the subscription is down it is pinged each
 * second until a move is seen and the new connection is ready.
 */
function sentinelSubscriber(
  target: RedisSentinelTarget,
  socket: SocketOptions,
  options: RedisClientOptions,
): RedisSubscriber {
  const channels = new Map<string, (message: string) => void>()
  const clientFor = (node: RedisNode) =>
    createClient({
      socket: { ...socket, host: node.host, port: node.port },
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
    })
  let client: ReturnType<typeof clientFor> | undefined
  let master: RedisNode | undefined
  let closed = false
  let rediscovery: NodeJS.Timeout | undefined

  const stopRediscovery = () => {
    clearInterval(rediscovery)
    rediscovery = undefined
  }
  const startRediscovery = () => {
    if (closed || rediscovery !== undefined) return
    rediscovery = setInterval(() => {
      // Rejects until the sentinels name a master that answers; the next tick tries again.
      watcher.send('', ['PING']).catch(() => {})
    }, 1_000)
    rediscovery.unref()
  }
  const follow = (node: RedisNode) => {
    if (closed || (master?.host === node.host && master.port === node.port)) return
    master = node
    const previous = client
    const next = clientFor(node)
    next.on('error', (err) => {
      startRediscovery()
      options.onError(err)
    })
    next.on('ready', () => {
      stopRediscovery()
      options.onReady?.()
    })
    client = next
    if (previous?.isOpen) previous.destroy()
    // Subscribed before connecting: node-redis sends them once it is ready, and again after each reconnect.
    for (const [channel, listener] of channels) next.subscribe(channel, listener).catch(options.onError)
    next.connect().catch(options.onError)
  }
  const watcher = sentinelCommandClient(target, socket, { ...options, failFast: true }, follow)

  return {
    async subscribe(channel, listener) {
      channels.set(channel, listener)
      await client?.subscribe(channel, listener)
    },
    async connect() {
      await watcher.connect()
    },
    async close() {
      closed = true
      stopRediscovery()
      await Promise.allSettled([watcher.close(), client === undefined ? undefined : closeWithin(client)])
    },
  }
}
