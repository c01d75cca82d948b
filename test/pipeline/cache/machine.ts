/**
 * A cache machine over a real memory store and a fake clock, for the tests of each step,
 * and an origin `next` whose answers the test sets.
 */
import { formatCacheStatus } from '../../../src/cache/cache-status.ts'
import type { Answer } from '../../../src/pipeline/answer.ts'
import { createCollapser } from '../../../src/pipeline/collapser.ts'
import type { RequestContext } from '../../../src/pipeline/context.ts'
import { createPassMemory } from '../../../src/pipeline/pass-memory.ts'
import { createCacheEntries } from '../../../src/pipeline/cache/entries.ts'
import { FillMemory } from '../../../src/pipeline/cache/fill-body.ts'
import type { CacheMachine, CacheStageDeps } from '../../../src/pipeline/cache/machine.ts'
import { createMemoryStore } from '../../../src/storage/memory-store.ts'
import { createStoreInvalidator } from '../../../src/surrogate/store-invalidator.ts'
import { createFakeClock } from '../../support/clock.ts'

const silent = { warn() {}, error() {}, info() {} }

export function testMachine(overrides: Partial<CacheStageDeps> = {}) {
  const clock = createFakeClock()
  const store = createMemoryStore({ clock })
  const deps: CacheStageDeps = {
    store,
    clock,
    collapser: createCollapser(),
    invalidator: createStoreInvalidator({ store, clock }),
    storeName: 'memory',
    log: silent,
    name: 'edgecache',
    maxObjectBytes: 1024 * 1024,
    collapseTimeoutMs: 5_000,
    keepMs: 3_600_000,
    admission: {
      heuristicFraction: 0.1,
      maxHeuristicTtlMs: 86_400_000,
      targetedFields: ['cdn-cache-control'],
      storeSetCookie: false,
    },
    ...overrides,
  }
  const m: CacheMachine = {
    deps,
    clock,
    collapser: deps.collapser,
    sharedCollapser: undefined,
    log: silent,
    entries: createCacheEntries(deps),
    passMemory: createPassMemory(100, 30_000, clock),
    fillMemory: new FillMemory(() => 1 << 20),
    refreshing: new Set(),
    status: (p) => formatCacheStatus('edgecache', p),
  }
  return { m, clock, store }
}

/** An origin that answers each request with `answer(ctx)` and records what it was sent. */
export function testOrigin(answer: (ctx: RequestContext) => Answer | Promise<Answer>) {
  const seen: RequestContext[] = []
  return {
    seen,
    next: async (ctx: RequestContext) => {
      seen.push(ctx)
      return answer(ctx)
    },
  }
}

export function cacheable(body: string, headers: Record<string, string> = {}): Answer {
  return {
    status: 200,
    headers: { 'cache-control': 'max-age=60', 'content-length': String(body.length), ...headers },
    body: Buffer.from(body),
  }
}

/** Waits, with a bound, until `check` holds (a commit runs after the answer it stores). */
export async function settled(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !check(); i++) await new Promise(setImmediate)
  if (!check()) throw new Error('condition not met')
}
