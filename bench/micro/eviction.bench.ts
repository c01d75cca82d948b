/**
 * Hit ratio of the local store's SIEVE against an exact LRU of the same byte budget, and of
 * the memory store (lru-cache) for reference. One seeded Zipf trace is replayed through each:
 * a `get` per request, and on a miss a `set` of that object. The local store runs in a fresh
 * temporary directory, removed afterwards. Prints a markdown table on stdout (progress goes
 * to stderr) and writes bench/results/eviction.json.
 *
 * Not mitata: the figure wanted is a hit ratio over a whole trace, not the time of one call
 * repeated, so this replays the trace once per policy and times the replay.
 *
 * The trace. 100,000 objects, 1,000,000 requests, Zipf with exponent 0.9 over the objects
 * (object 0 the most requested). Each object's body size is drawn once, log-normal with a
 * median of 4 KiB and σ = 1.2, clamped to 200 B – 64 KiB (mean about 8 KiB). The budget is
 * 10% of the working set (every object of the catalogue) as the local store counts bytes.
 *
 * `--requests N`, `--objects N` and `--seed N` change the trace; `--requests 100000` is a
 * quick run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLocalStore, entrySize } from '../../src/storage/local-store.ts'
import { createMemoryStore } from '../../src/storage/memory-store.ts'
import type { CacheStore, StoredEntry } from '../../src/storage/store.ts'

const ZIPF_EXPONENT = 0.9
const MEDIAN_BODY_BYTES = 4_096
const BODY_SIGMA = 1.2
const MIN_BODY_BYTES = 200
const MAX_BODY_BYTES = 65_536
const BUDGET_SHARE = 0.1
const YEAR_MS = 365 * 24 * 3_600_000

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000000' },
    objects: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '42' },
  },
})

function positiveInteger(name: string, raw: string): number {
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new Error(`--${name}: expected a positive integer, got "${raw}"`)
  return n
}

const REQUESTS = positiveInteger('requests', flags.requests)
const OBJECTS = positiveInteger('objects', flags.objects)
const SEED = positiveInteger('seed', flags.seed)

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Body bytes of each object: log-normal (Box–Muller), clamped. */
function bodySizes(count: number, random: () => number): Uint32Array {
  const sizes = new Uint32Array(count)
  for (let i = 0; i < count; i++) {
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
    const bytes = Math.round(MEDIAN_BODY_BYTES * Math.exp(BODY_SIGMA * normal))
    sizes[i] = Math.min(MAX_BODY_BYTES, Math.max(MIN_BODY_BYTES, bytes))
  }
  return sizes
}

/** The requested object of each request: Zipf over `objects`, by binary search of the CDF. */
function zipfTrace(requests: number, objects: number, random: () => number): Uint32Array {
  const cdf = new Float64Array(objects)
  let sum = 0
  for (let i = 0; i < objects; i++) {
    sum += 1 / (i + 1) ** ZIPF_EXPONENT
    cdf[i] = sum
  }
  const trace = new Uint32Array(requests)
  for (let r = 0; r < requests; r++) {
    const u = random() * sum
    let lo = 0
    let hi = objects - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid]! > u) hi = mid
      else lo = mid + 1
    }
    trace[r] = lo
  }
  return trace
}

const random = mulberry32(SEED)
const sizes = bodySizes(OBJECTS, random)
const trace = zipfTrace(REQUESTS, OBJECTS, random)
const keys = Array.from({ length: OBJECTS }, (_, i) => `GET bench.example/objects/${i}`)
const meta = { status: 200, headers: { 'content-type': 'application/octet-stream' }, storedAt: 0 }
const metaJson = JSON.stringify(meta)
const bodies = Buffer.alloc(MAX_BODY_BYTES, 0x61)
const expiresAt = Date.now() + YEAR_MS

function entryOf(id: number): StoredEntry {
  return { meta, body: bodies.subarray(0, sizes[id]!), expiresAt }
}

// The exact LRU counts each object as the local store does, so both get the same budget.
const countedSizes = Uint32Array.from(keys, (key, i) => entrySize(key, metaJson, [], sizes[i]!))
const workingSetBytes = countedSizes.reduce((sum, size) => sum + size, 0)
const bodyBytes = sizes.reduce((sum, size) => sum + size, 0)
const budget = Math.floor(workingSetBytes * BUDGET_SHARE)

/** One cache under test, seen as `lookup` and `fill` of object ids. */
interface Policy {
  readonly name: string
  lookup(id: number): boolean | Promise<boolean>
  fill(id: number): unknown
  /** Bytes held, as the policy counts them. */
  held(): number
}

/** An exact LRU bounded in bytes: a Map in recency order, a hit moved to the end. */
function exactLru(maxBytes: number): Policy {
  const held = new Map<number, number>()
  let bytes = 0
  return {
    name: 'exact LRU (in the bench)',
    lookup(id) {
      const size = held.get(id)
      if (size === undefined) return false
      held.delete(id)
      held.set(id, size)
      return true
    },
    fill(id) {
      const size = countedSizes[id]!
      for (const [oldest, oldestSize] of held) {
        if (bytes + size <= maxBytes) break
        held.delete(oldest)
        bytes -= oldestSize
      }
      held.set(id, size)
      bytes += size
    },
    held: () => bytes,
  }
}

function storePolicy(name: string, store: CacheStore): Policy {
  return {
    name,
    lookup: async (id) => (await store.get(keys[id]!)) !== undefined,
    fill: (id) => store.set(keys[id]!, entryOf(id)),
    held: () => store.stats().bytes,
  }
}

interface Outcome {
  readonly policy: string
  readonly hitRatio: number
  readonly secondHalfHitRatio: number
  readonly heldBytes: number
  readonly seconds: number
  readonly usPerRequest: number
}

async function replay(policy: Policy): Promise<Outcome> {
  const half = Math.floor(REQUESTS / 2)
  const tenth = Math.max(1, Math.floor(REQUESTS / 10))
  let hits = 0
  let secondHalfHits = 0
  const started = performance.now()
  for (let r = 0; r < REQUESTS; r++) {
    const id = trace[r]!
    if (await policy.lookup(id)) {
      hits++
      if (r >= half) secondHalfHits++
    } else {
      await policy.fill(id)
    }
    if ((r + 1) % tenth === 0 && r + 1 < REQUESTS) {
      const seconds = (performance.now() - started) / 1_000
      process.stderr.write(
        `${policy.name}: ${Math.round(((r + 1) / REQUESTS) * 100)}% (${(r + 1).toLocaleString('en-US')} ` +
          `requests), hit ratio so far ${(hits / (r + 1)).toFixed(4)}, ${seconds.toFixed(1)} s\n`,
      )
    }
  }
  const seconds = (performance.now() - started) / 1_000
  const outcome = {
    policy: policy.name,
    hitRatio: hits / REQUESTS,
    secondHalfHitRatio: secondHalfHits / (REQUESTS - half),
    heldBytes: policy.held(),
    seconds,
    usPerRequest: (seconds * 1e6) / REQUESTS,
  }
  process.stderr.write(`${policy.name}: done in ${seconds.toFixed(1)} s\n`)
  return outcome
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

process.stderr.write(
  `${REQUESTS.toLocaleString('en-US')} requests over ${OBJECTS.toLocaleString('en-US')} objects ` +
    `(Zipf ${ZIPF_EXPONENT}, seed ${SEED}); working set ${mib(workingSetBytes)} as the local store ` +
    `counts it (${mib(bodyBytes)} of bodies); budget ${mib(budget)}\n`,
)

const outcomes: Outcome[] = []
const notes: string[] = []

const dir = mkdtempSync(join(tmpdir(), 'edgecache-eviction-'))
try {
  let evicted = 0
  const local = createLocalStore({
    path: dir,
    maxBytes: budget,
    onEvict: (_key, reason) => {
      if (reason === 'evict') evicted++
    },
  })
  try {
    outcomes.push(await replay(storePolicy('local store (SIEVE)', local)))
    notes.push(
      `local store: ${evicted.toLocaleString('en-US')} evictions; data file ${mib(local.fileBytes())} ` +
        `of a ${mib(local.mapBytes)} map`,
    )
  } finally {
    await local.close()
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

outcomes.push(await replay(exactLru(budget)))

// Counts bytes its own way (512 of overhead per entry, no rounding to pages): more than the
// local store for a small object, less for a large one. For information, not a like-for-like match.
const memory = createMemoryStore({ maxBytes: budget, sweepIntervalMs: 0 })
outcomes.push(await replay(storePolicy('memory store (lru-cache LRU, own sizes)', memory)))
await memory.close()

const ratio = (share: number): string => `${(share * 100).toFixed(2)}%`
console.log(
  `\n${REQUESTS.toLocaleString('en-US')} requests, ${OBJECTS.toLocaleString('en-US')} objects, ` +
    `Zipf ${ZIPF_EXPONENT}, bodies ${MIN_BODY_BYTES} B – 64 KiB (log-normal, median 4 KiB), seed ${SEED}; ` +
    `node ${process.version}\n`,
)
console.log('| policy | budget | hit ratio | hit ratio, 2nd half | held at end | time | per request |')
console.log('| --- | --: | --: | --: | --: | --: | --: |')
for (const o of outcomes) {
  console.log(
    `| ${o.policy} | ${mib(budget)} | ${ratio(o.hitRatio)} | ${ratio(o.secondHalfHitRatio)} | ` +
      `${mib(o.heldBytes)} | ${o.seconds.toFixed(1)} s | ${o.usPerRequest.toFixed(2)} µs |`,
  )
}
console.log(`\n${notes.join('\n')}`)

const results = new URL('../results/', import.meta.url)
mkdirSync(results, { recursive: true })
const file = new URL('eviction.json', results)
writeFileSync(
  file,
  `${JSON.stringify(
    {
      finishedAt: new Date().toISOString(),
      argv: process.argv.slice(2),
      node: process.version,
      trace: {
        requests: REQUESTS,
        objects: OBJECTS,
        seed: SEED,
        zipfExponent: ZIPF_EXPONENT,
        bodies: {
          medianBytes: MEDIAN_BODY_BYTES,
          sigma: BODY_SIGMA,
          minBytes: MIN_BODY_BYTES,
          maxBytes: MAX_BODY_BYTES,
        },
      },
      workingSetBytes,
      bodyBytes,
      budgetShare: BUDGET_SHARE,
      budgetBytes: budget,
      outcomes,
      notes,
    },
    null,
    2,
  )}\n`,
)
console.log(`results: bench/results/eviction.json`)
