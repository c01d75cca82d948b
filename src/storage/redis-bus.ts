/**
 * The invalidation bus over Redis pub/sub: each instance publishes its writes and purges on
 * one channel and applies the others'. A subscriber that loses its connection may miss
 * messages, so it reports the loss when it happens and again when it is back (the local
 * tier is cleared both times: entries refilled during the outage may predate a purge), and
 * its first connection too: purges made while the instance was away went by unseen.
 *
 * Fill notices (fill-locks.ts) travel on a channel of their own, `<keyPrefix>fills`: an
 * instance that predates them never subscribes to it, so it cannot misread one as a purge.
 * redis-topology.ts builds the connections for a single server, a Cluster or Sentinel.
 */
import { randomUUID } from 'node:crypto'
import type { FillNotice, FillNotices } from './fill-locks.ts'
import { createCommandClient, createSubscriber, type RedisTarget } from './redis-topology.ts'
import type { BusLoss, BusMessage, InvalidationBus } from './tiered-store.ts'

export interface RedisBusOptions extends RedisTarget {
  /** The channels are `<keyPrefix>invalidations` and `<keyPrefix>fills`. */
  readonly keyPrefix: string
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
  /**
   * Who this instance is on the invalidation channel; the workers of one instance share it
   * (and their local store), so they skip each other's invalidations as their own. Fill
   * notices always name the process: a sibling worker may be waiting on one.
   * @default a new id per bus
   */
  readonly instance?: string
}

interface Envelope<T = BusMessage> {
  readonly from: string
  readonly message: T
}

export function createRedisBus(options: RedisBusOptions): InvalidationBus & FillNotices {
  const channel = `${options.keyPrefix}invalidations`
  const fillChannel = `${options.keyPrefix}fills`
  const self = randomUUID()
  const instance = options.instance ?? self
  let onLost: (why: BusLoss) => void = () => {}
  let connected = false
  /** Connected once already: a later ready is a reconnection, not the start. */
  let connectedBefore = false
  let closed = false
  const becameReady = () => {
    connected = true
    onLost(connectedBefore ? 'reconnected' : 'started')
    connectedBefore = true
  }

  // Publishing and subscribing need separate connections: a subscribed one takes no commands.
  const publisher = createCommandClient(options, { failFast: true, onError: () => {} })
  const subscriber = createSubscriber(options, {
    failFast: false,
    onError(err) {
      if (!connected || closed) return
      connected = false
      options.log.warn({ err }, 'invalidation bus disconnected')
      onLost('disconnected')
    },
    onReady() {
      if (connected || closed) return
      becameReady()
    },
  })

  // A Cluster or Sentinel client gives up when its first connect fails; try again until closed.
  const untilConnected = async (client: { connect(): Promise<void> }) => {
    for (let attempt = 0; ; attempt++) {
      // A connect pending at close() may still resolve after it: never start the next one then.
      if (closed) throw new Error('invalidation bus closed')
      try {
        return await client.connect()
      } catch (err) {
        if (closed) throw err
        if (attempt === 0) options.log.warn({ err }, 'invalidation bus could not connect yet')
        await new Promise((resolve) => setTimeout(resolve, 1_000).unref())
      }
    }
  }
  const started = (async () => {
    await untilConnected(publisher)
    await untilConnected(subscriber)
    // Where the client said nothing of it while connecting.
    if (!closed && !connected) becameReady()
  })()
  started.catch(() => {})

  return {
    async publish(message) {
      await started
      const envelope: Envelope = { from: instance, message }
      await publisher.send(channel, ['PUBLISH', channel, JSON.stringify(envelope)])
    },
    subscribe(onMessage, lost) {
      onLost = lost
      started
        .then(() =>
          subscriber.subscribe(channel, (text: string) => {
            let envelope: Envelope
            try {
              envelope = JSON.parse(text) as Envelope
            } catch {
              return
            }
            if (envelope.from !== instance) onMessage(envelope.message)
          }),
        )
        .catch((err: unknown) => {
          // Closed before it connected: nothing to say.
          if (!closed) options.log.warn({ err }, 'invalidation bus could not subscribe')
        })
    },
    async publishFill(notice) {
      await started
      const envelope: Envelope<FillNotice> = { from: self, message: notice }
      await publisher.send(fillChannel, ['PUBLISH', fillChannel, JSON.stringify(envelope)])
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
