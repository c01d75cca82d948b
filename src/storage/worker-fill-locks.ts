/**
 * Fill locks between the workers of one instance, so concurrent misses for one key on
 * different workers make one origin request. The primary process holds the claims: a
 * worker asks it over the cluster IPC channel, and waiters hear from it when the claim
 * ends. The holder releases after its entry is committed to the shared store, so a waiter
 * that looks again finds it. A worker that dies gives up its claims. Keys and results only.
 *
 * The messages of one loop turn travel as one: each send is a write on the IPC channel and a
 * wake-up of the other side, about 30 µs of CPU on each side here, and under a burst of
 * fills each worker claims several keys a turn.
 */
import type { Worker } from 'node:cluster'
import type { FillLease, FillLocks, FillResult, FillWaited } from './store.ts'

/** Messages between a worker and the primary; `type` keeps them apart from other IPC. */
export type FillLockMessage =
  | {
      readonly type: 'edgecache:fill-acquire'
      readonly id: number
      readonly key: string
      readonly ttlMs: number
    }
  | { readonly type: 'edgecache:fill-acquired'; readonly id: number; readonly granted: boolean }
  | {
      readonly type: 'edgecache:fill-release'
      readonly id: number
      readonly key: string
      readonly result: FillResult
      readonly status?: number
    }
  | { readonly type: 'edgecache:fill-wait'; readonly id: number; readonly key: string }
  | { readonly type: 'edgecache:fill-unwait'; readonly id: number; readonly key: string }
  | {
      readonly type: 'edgecache:fill-ended'
      readonly id: number
      readonly outcome: FillResult | 'released'
      readonly status?: number
    }

/** Several messages sent in one loop turn, in the order they were sent. */
export interface FillLockBatch {
  readonly type: 'edgecache:fill-batch'
  readonly messages: readonly FillLockMessage[]
}

export function isFillLockMessage(message: unknown): message is FillLockMessage | FillLockBatch {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('edgecache:fill-')
  )
}

/** The fill-lock messages `message` carries, one or a batch; none for other messages. */
function fillLockMessagesOf(message: unknown): readonly FillLockMessage[] {
  if (!isFillLockMessage(message)) return []
  return message.type === 'edgecache:fill-batch' ? message.messages : [message]
}

/**
 * A `send` that holds messages until the end of the loop turn (setImmediate) and sends them
 * then, one as itself and more as one batch.
 */
export function batchingSender(
  send: (message: FillLockMessage | FillLockBatch) => void,
): (message: FillLockMessage) => void {
  let queue: FillLockMessage[] = []
  const flush = () => {
    const messages = queue
    queue = []
    send(messages.length === 1 ? messages[0]! : { type: 'edgecache:fill-batch', messages })
  }
  return (message) => {
    if (queue.push(message) === 1) setImmediate(flush)
  }
}

/** How long a worker waits for the primary to answer a claim before fetching without one. */
const ACQUIRE_TIMEOUT_MS = 1_000

/**
 * The worker's side: FillLocks over IPC to the primary. `send` and `onMessage` are the
 * worker's process channel.
 *
 * @example
 * const locks = createWorkerFillLocks((m) => process.send?.(m), (f) => process.on('message', f))
 */
export function createWorkerFillLocks(
  sendNow: (message: FillLockMessage | FillLockBatch) => void,
  onMessage: (listener: (message: unknown) => void) => void,
): FillLocks {
  let nextId = 0
  const send = batchingSender(sendNow)
  const pending = new Map<number, (message: FillLockMessage) => void>()
  onMessage((received) => {
    for (const message of fillLockMessagesOf(received)) {
      if (message.type !== 'edgecache:fill-acquired' && message.type !== 'edgecache:fill-ended') continue
      const resolve = pending.get(message.id)
      pending.delete(message.id)
      resolve?.(message)
    }
  })

  return {
    acquireFill(key, ttlMs): Promise<FillLease | undefined> {
      const id = nextId++
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error('the primary process did not answer a fill claim in time'))
        }, ACQUIRE_TIMEOUT_MS)
        timer.unref()
        pending.set(id, (message) => {
          clearTimeout(timer)
          if (message.type !== 'edgecache:fill-acquired' || !message.granted) return resolve(undefined)
          let released = false
          resolve({
            async release(result, status) {
              if (released) return
              released = true
              send({
                type: 'edgecache:fill-release',
                id,
                key,
                result,
                ...(status === undefined ? {} : { status }),
              })
            },
          })
        })
        send({ type: 'edgecache:fill-acquire', id, key, ttlMs })
      })
    },

    waitForFill(key, waitMs): Promise<FillWaited> {
      if (!(waitMs > 0)) return Promise.resolve({ outcome: 'timeout' })
      const id = nextId++
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          send({ type: 'edgecache:fill-unwait', id, key })
          resolve({ outcome: 'timeout' })
        }, waitMs)
        timer.unref()
        pending.set(id, (message) => {
          clearTimeout(timer)
          if (message.type !== 'edgecache:fill-ended') return resolve({ outcome: 'released' })
          resolve({
            outcome: message.outcome,
            ...(message.status === undefined ? {} : { status: message.status }),
          })
        })
        send({ type: 'edgecache:fill-wait', id, key })
      })
    },
  }
}

/** What the primary needs of node:cluster: messages from workers, and their exits. */
export interface FillLockCluster {
  on(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown
  on(event: 'exit', listener: (worker: Worker) => void): unknown
}

/**
 * The primary's side: holds one claim per key, grants it to the first worker to ask, tells
 * every waiter when it ends (released with a result, expired, or its worker gone).
 */
export function serveFillLocks(cluster: FillLockCluster): void {
  interface Claim {
    readonly worker: Worker
    readonly id: number
    readonly timer: NodeJS.Timeout
  }
  const claims = new Map<string, Claim>()
  /** Per key, the waiting requests: worker id and the worker's request id make one name. */
  const waiters = new Map<string, Map<string, { readonly worker: Worker; readonly id: number }>>()
  const waiterName = (worker: Worker, id: number) => `${worker.id}:${id}`

  const senders = new Map<Worker, (message: FillLockMessage) => void>()
  const tell = (worker: Worker, message: FillLockMessage) => {
    let send = senders.get(worker)
    if (send === undefined) {
      send = batchingSender((batch) => {
        if (worker.isConnected()) worker.send(batch)
      })
      senders.set(worker, send)
    }
    send(message)
  }
  const end = (key: string, outcome: FillResult | 'released', status?: number) => {
    const claim = claims.get(key)
    if (claim === undefined) return
    claims.delete(key)
    clearTimeout(claim.timer)
    const waiting = waiters.get(key)
    waiters.delete(key)
    for (const { worker, id } of waiting?.values() ?? [])
      tell(worker, { type: 'edgecache:fill-ended', id, outcome, ...(status === undefined ? {} : { status }) })
  }

  cluster.on('message', (worker, received) => {
    for (const message of fillLockMessagesOf(received)) serve(worker, message)
  })

  function serve(worker: Worker, message: FillLockMessage): void {
    switch (message.type) {
      case 'edgecache:fill-acquire': {
        const granted = !claims.has(message.key)
        if (granted) {
          // A claim nobody releases (a hung fill) ends by itself, and its waiters fetch.
          const timer = setTimeout(() => end(message.key, 'released'), message.ttlMs)
          timer.unref()
          claims.set(message.key, { worker, id: message.id, timer })
        }
        tell(worker, { type: 'edgecache:fill-acquired', id: message.id, granted })
        return
      }
      case 'edgecache:fill-release': {
        const claim = claims.get(message.key)
        if (claim?.worker === worker && claim.id === message.id)
          end(message.key, message.result, message.status)
        return
      }
      case 'edgecache:fill-wait': {
        if (!claims.has(message.key)) {
          tell(worker, { type: 'edgecache:fill-ended', id: message.id, outcome: 'released' })
          return
        }
        const waiting = waiters.get(message.key) ?? new Map()
        waiting.set(waiterName(worker, message.id), { worker, id: message.id })
        waiters.set(message.key, waiting)
        return
      }
      case 'edgecache:fill-unwait':
        waiters.get(message.key)?.delete(waiterName(worker, message.id))
        return
    }
  }

  cluster.on('exit', (worker) => {
    senders.delete(worker)
    for (const [key, claim] of claims) if (claim.worker === worker) end(key, 'abandoned')
    for (const waiting of waiters.values()) {
      for (const [name, waiter] of waiting) if (waiter.worker === worker) waiting.delete(name)
    }
  })
}
