/**
 * Fill locks between the workers of one instance, so concurrent misses for one key on
 * different workers make one origin request. The primary process holds the claims: a
 * worker asks it over the cluster IPC channel, and waiters hear from it when the claim
 * ends. The holder releases after its entry is committed to the shared store, so a waiter
 * that looks again finds it. A worker that dies gives up its claims. Keys and results only.
 */
import type { Worker } from 'node:cluster'
import type { FillLease, FillLocks, FillOutcome, FillResult } from './store.ts'

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
    }
  | { readonly type: 'edgecache:fill-wait'; readonly id: number; readonly key: string }
  | { readonly type: 'edgecache:fill-unwait'; readonly id: number; readonly key: string }
  | { readonly type: 'edgecache:fill-ended'; readonly id: number; readonly outcome: FillResult | 'released' }

export function isFillLockMessage(message: unknown): message is FillLockMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith('edgecache:fill-')
  )
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
  send: (message: FillLockMessage) => void,
  onMessage: (listener: (message: unknown) => void) => void,
): FillLocks {
  let nextId = 0
  const pending = new Map<number, (message: FillLockMessage) => void>()
  onMessage((message) => {
    if (!isFillLockMessage(message)) return
    if (message.type !== 'edgecache:fill-acquired' && message.type !== 'edgecache:fill-ended') return
    const resolve = pending.get(message.id)
    pending.delete(message.id)
    resolve?.(message)
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
            async release(result) {
              if (released) return
              released = true
              send({ type: 'edgecache:fill-release', id, key, result })
            },
          })
        })
        send({ type: 'edgecache:fill-acquire', id, key, ttlMs })
      })
    },

    waitForFill(key, waitMs): Promise<FillOutcome> {
      if (!(waitMs > 0)) return Promise.resolve('timeout')
      const id = nextId++
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          send({ type: 'edgecache:fill-unwait', id, key })
          resolve('timeout')
        }, waitMs)
        timer.unref()
        pending.set(id, (message) => {
          clearTimeout(timer)
          resolve(message.type === 'edgecache:fill-ended' ? message.outcome : 'released')
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

  const tell = (worker: Worker, message: FillLockMessage) => {
    if (worker.isConnected()) worker.send(message)
  }
  const end = (key: string, outcome: FillResult | 'released') => {
    const claim = claims.get(key)
    if (claim === undefined) return
    claims.delete(key)
    clearTimeout(claim.timer)
    const waiting = waiters.get(key)
    waiters.delete(key)
    for (const { worker, id } of waiting?.values() ?? [])
      tell(worker, { type: 'edgecache:fill-ended', id, outcome })
  }

  cluster.on('message', (worker, message) => {
    if (!isFillLockMessage(message)) return
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
        if (claim?.worker === worker && claim.id === message.id) end(message.key, message.result)
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
  })

  cluster.on('exit', (worker) => {
    for (const [key, claim] of claims) if (claim.worker === worker) end(key, 'abandoned')
    for (const waiting of waiters.values()) {
      for (const [name, waiter] of waiting) if (waiter.worker === worker) waiting.delete(name)
    }
  })
}
