/**
 * An in-process invalidation bus for tests of the tiered store's own logic: every joined
 * instance gets the others' messages, and a test can cut one off to simulate a lost
 * subscription. The Redis pub/sub bus is tested against a real redis-server.
 */
import type { BusLoss, BusMessage, InvalidationBus } from '../../src/storage/tiered-store.ts'

interface Member {
  onMessage: (message: BusMessage) => void
  onLost: (why: BusLoss) => void
  connected: boolean
}

export interface LocalBusNetwork {
  join(): InvalidationBus & { lose(why?: BusLoss): void }
}

export function createLocalBusNetwork(): LocalBusNetwork {
  const members = new Set<Member>()
  return {
    join() {
      const me: Member = { onMessage: () => {}, onLost: () => {}, connected: true }
      members.add(me)
      return {
        async publish(message) {
          for (const other of members) if (other !== me && other.connected) other.onMessage(message)
        },
        subscribe(onMessage, onLost) {
          me.onMessage = onMessage
          me.onLost = onLost
        },
        async close() {
          members.delete(me)
        },
        lose(why: BusLoss = 'disconnected') {
          me.onLost(why)
        },
      }
    },
  }
}
