import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { collectForFootprint } from '../src/memory-release.ts'
import { nativeHeapTrimmer } from '../src/native-heap.ts'
import { waitFor } from './support/client.ts'

const MIB = 1024 ** 2

/** The process's anonymous resident memory: what the C heap keeps shows here. */
function anonymousResident(): number {
  const kib = /RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
  assert.ok(kib !== undefined, 'Linux reports RssAnon')
  return Number(kib) * 1024
}

test('the trim hands back C-heap memory freed between allocations still in use', async () => {
  const collect = collectForFootprint()
  assert.ok(collect !== undefined)
  const trim = nativeHeapTrimmer()
  const buffersAtStart = process.memoryUsage().arrayBuffers
  // 64 KiB each: below glibc's mmap threshold, so they come from its heap. Every 100th is
  // kept, the last one among them, so the freed ones lie between live allocations and
  // free() alone cannot shrink the heap.
  let dropped: Buffer[] | undefined = []
  const kept: Buffer[] = []
  for (let i = 1; i <= 1_000; i++) {
    const buffer = Buffer.allocUnsafeSlow(64 * 1024).fill(i)
    if (i % 100 === 0) kept.push(buffer)
    else dropped.push(buffer)
  }
  const filled = anonymousResident()
  assert.equal(dropped.length, 990)
  dropped = undefined
  collect()
  // The collection frees the Buffers' memory; V8 may do so on another thread.
  await waitFor(() => process.memoryUsage().arrayBuffers < buffersAtStart + 8 * MIB, 10_000)
  assert.equal(trim(), true, 'glibc is there to trim')
  const trimmed = anonymousResident()
  assert.ok(trimmed < filled - 40 * MIB, `anonymous memory ${filled} -> ${trimmed} bytes`)
  assert.equal(kept.length, 10)
  assert.equal(trim(), true, 'a second trim binds nothing again')
})
