/**
 * Purges in the local store, as purge.bench.ts measures them in the memory store: one tag
 * over 10,000 entries (the target: under 50 ms, one write transaction that every worker
 * sees), soft and hard, and 100 tags over 100 entries each. Each sample refills what the
 * previous one purged, outside the timed part.
 *
 * Not mitata: a refill is 10,000 write transactions, so a sample costs seconds of setup;
 * this times a fixed number of samples by hand and prints their median, min and max.
 *
 * A hard purge leaves the purged entries' rows in their other tags to a sweep, which a
 * server runs in its own transactions on the next turns of its event loop. This loop never
 * yields to it, so each sample sweeps by hand after the purge, timed apart: the sweep's
 * total and its longest batch (the longest any other worker waits for the lock on it).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalStore, type LocalStore } from '../../src/storage/local-store.ts'
import type { PurgeOptions, PurgeSelector, StoredEntry } from '../../src/storage/store.ts'

const SAMPLES = 7
const HOUR_MS = 3_600_000
const meta = { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, storedAt: Date.now() }
const body = Buffer.alloc(1024, 0x61)

type Keys = readonly (readonly [string, readonly string[]])[]

function entry(tags: readonly string[]): StoredEntry {
  return { meta, body, expiresAt: Date.now() + HOUR_MS, tags }
}

async function fill(store: LocalStore, keys: Keys): Promise<void> {
  for (const [key, tags] of keys) await store.set(key, entry(tags))
}

async function measure(
  name: string,
  store: LocalStore,
  refill: Keys,
  selector: PurgeSelector,
  options: PurgeOptions,
): Promise<void> {
  const times: number[] = []
  const sweeps: number[] = []
  let longestBatch = 0
  let purged = 0
  for (let i = 0; i < SAMPLES; i++) {
    await fill(store, refill)
    const started = process.hrtime.bigint()
    purged = await store.purge(selector, options)
    times.push(msSince(started))
    const swept = process.hrtime.bigint()
    let batches = 0
    for (let batch = process.hrtime.bigint(); await store.sweepBatch(); batch = process.hrtime.bigint()) {
      longestBatch = Math.max(longestBatch, msSince(batch))
      batches++
    }
    sweeps.push(batches === 0 ? 0 : msSince(swept))
  }
  console.log(
    `| ${name} | ${purged} | ${median(times).toFixed(1)} | ${times[0]!.toFixed(1)}–${times.at(-1)!.toFixed(1)} | ${median(sweeps).toFixed(1)} | ${longestBatch.toFixed(1)} |`,
  )
}

function msSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6
}

/** Sorts `values` and returns their median. */
function median(values: number[]): number {
  values.sort((a, b) => a - b)
  return values[Math.floor(values.length / 2)]!
}

const dir = mkdtempSync(join(tmpdir(), 'edgecache-bench-purge-'))
try {
  const store = createLocalStore({ path: dir, maxBytes: 1024 * 1024 * 1024 })
  const oneTagKeys: Keys = Array.from({ length: 10_000 }, (_, i) => {
    const key = `GET shop.example/p/${i}`
    return [key, [`url:${key}`, 'product:42', `shard:${i % 16}`]] as const
  })
  const manyTagKeys: Keys = Array.from({ length: 10_000 }, (_, i) => {
    const key = `GET shop.example/c/${i}`
    return [key, [`url:${key}`, `category:${i % 100}`, `page:${i % 200}`]] as const
  })
  await fill(store, manyTagKeys)
  const hundredTags = Array.from({ length: 100 }, (_, i) => `category:${i}`)
  const hundredTagKeys = manyTagKeys.filter(([, tags]) => hundredTags.includes(tags[1]!))

  console.log(`local store purges, ${SAMPLES} samples each; node ${process.version}\n`)
  console.log(
    '| purge | entries | median ms | min–max ms | sweep after, median ms | longest sweep batch ms |',
  )
  console.log('| --- | --: | --: | --: | --: | --: |')
  await measure('hard, 1 tag × 10,000 entries', store, oneTagKeys, { tags: ['product:42'] }, { soft: false })
  await measure('soft, 1 tag × 10,000 entries', store, oneTagKeys, { tags: ['product:42'] }, { soft: true })
  await measure('hard, 100 tags × 100 entries', store, hundredTagKeys, { tags: hundredTags }, { soft: false })
  await store.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
