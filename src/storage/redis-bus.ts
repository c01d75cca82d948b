/**
 * The invalidation bus over Redis pub/sub: each instance publishes its writes and purges on
 * one channel and applies the others'. A subscriber that loses its connection may miss
 * messages, so it reports the loss when it happens and again when it is back (the memory
 * tier is cleared both times: entries refilled during the outage may predate a purge).
 *
 * Fill notices (fill-locks.ts) travel on a channel of their own, `<keyPrefix>fills`: an
 * instance that predates them never subscribes to it, so it cannot misread one as a purge.
 */
import { randomUUID } from 'node:crypto'
import { createClient, createCluster } from 'redis'
import type { FillNotice, FillNotices } from './fill-locks.ts'
import type { BusMessage, InvalidationBus } from './tiered-store.ts'

export interface RedisBusOptions {
  readonly url?: string
  readonly cluster?: readonly string[]
  /** The channels are `<keyPrefix>invalidations` and `<keyPrefix>fills`. */
  readonly keyPrefix: string
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
}

interface Envelope<T = BusMessage> {
  readonly from: string
  readonly message: T
}

/** Backs off from 50 ms to 1 s between attempts, forever. */
function reconnectStrategy(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 5), 1_000)
}

export function createRedisBus(options: RedisBusOptions): InvalidationBus & FillNotices {
  const channel = `${options.keyPrefix}invalidations`
  const fillChannel = `${options.keyPrefix}fills`
  const self = randomUUID()
  const socket = { reconnectStrategy }
  const clustered = options.cluster !== undefined && options.cluster.length > 0
  const rootNodes = (options.cluster ?? []).map((url) => ({ url }))
  // Publishing and subscribing need separate connections: a subscribed one takes no commands.
  const publisher = clustered
    ? createCluster({ rootNodes, defaults: { socket, disableOfflineQueue: true } })
    : createClient({ url: options.url, socket, disableOfflineQueue: true })
  const subscriber = clustered
    ? createCluster({ rootNodes, defaults: { socket } })
    : createClient({ url: options.url, socket })
  let onLost: () => void = () => {}
  let connected = false
  let closed = false

  publisher.on('error', () => {})
  subscriber.on('error', (err: unknown) => {
    if (!connected || closed) return
    connected = false
    options.log.warn({ err }, 'invalidation bus disconnected')
    onLost()
  })
  // A single client tells us when it is back; its subscriptions are restored by node-redis.
  subscriber.on('ready', () => {
    if (connected || closed) return
    connected = true
    onLost()
  })

  const started = (async () => {
    await publisher.connect()
    await subscriber.connect()
    connected = true
  })()
  started.catch((err: unknown) => options.log.warn({ err }, 'invalidation bus could not connect yet'))

  return {
    async publish(message) {
      await started
      const envelope: Envelope = { from: self, message }
      await publisher.publish(channel, JSON.stringify(envelope))
    },
    subscribe(onMessage, lost) {
      onLost = lost
      void started.then(() =>
        subscriber.subscribe(channel, (text: string) => {
          let envelope: Envelope
          try {
            envelope = JSON.parse(text) as Envelope
          } catch {
            return
          }
          if (envelope.from !== self) onMessage(envelope.message)
        }),
      )
    },
    async publishFill(notice) {
      await started
      const envelope: Envelope<FillNotice> = { from: self, message: notice }
      await publisher.publish(fillChannel, JSON.stringify(envelope))
    },
    subscribeFills(onNotice) {
      started
        .then(() =>
          subscriber.subscribe(fillChannel, (text: string) => {
            const envelope = parseEnvelope<FillNotice>(text)
            const notice = envelope?.message
            if (envelope?.from === self || typeof notice?.key !== 'string') return
            onNotice(notice)
          }),
        )
        // Waiters still poll the lock; a missing subscription only makes them slower to wake.
        .catch((err: unknown) => options.log.warn({ err }, 'could not subscribe to fill notices'))
    },
    async close() {
      closed = true
      await Promise.allSettled([publisher.close(), subscriber.close()])
    },
  }
}

function parseEnvelope<T>(text: string): Envelope<T> | undefined {
  try {
    return JSON.parse(text) as Envelope<T>
  } catch {
    return undefined
  }
}
