import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { type FillAbandon, FillBody, FillMemory } from '../../../src/pipeline/cache/fill-body.ts'

/** A source the test pushes into, as undici's body stream is pushed into. */
function source(): Readable {
  return new Readable({ read() {} })
}

function verdict() {
  let resolve!: (value: { body?: Buffer; abandoned?: FillAbandon }) => void
  const settled = new Promise<{ body?: Buffer; abandoned?: FillAbandon }>((r) => {
    resolve = r
  })
  return {
    settled,
    onComplete: (body: Buffer) => resolve({ body }),
    onAbandon: (reason: FillAbandon) => resolve({ abandoned: reason }),
  }
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

const roomy = () => new FillMemory(() => 1 << 20)

test('hands over the whole body once it ended with the declared length, and the reader gets it all', async () => {
  const v = verdict()
  const fill = new FillBody(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), {
    maxBytes: 100,
    expectedLength: 4,
    memory: roomy(),
    ...v,
  })
  const reader = fill.reader()!
  assert.equal((await drain(reader)).toString(), 'abcd')
  assert.equal((await v.settled).body?.toString(), 'abcd')
})

test('the origin is read to its end while the only reader reads nothing', async () => {
  const v = verdict()
  const origin = source()
  const fill = new FillBody(origin, { maxBytes: 1 << 20, expectedLength: undefined, memory: roomy(), ...v })
  const stalled = fill.reader()!
  stalled.pause()
  // Far more than any stream's buffer: a reader's pace would have paused the origin long ago.
  for (let i = 0; i < 64; i++) origin.push(Buffer.alloc(8 * 1024, i))
  origin.push(null)
  const { body } = await v.settled
  assert.equal(body?.length, 64 * 8 * 1024)
  assert.equal(origin.readableEnded, true)
  assert.equal((await drain(stalled)).length, 64 * 8 * 1024, 'the stalled reader still gets every byte later')
})

test('a second reader joining late gets the body from its first byte', async () => {
  const v = verdict()
  const origin = source()
  const fill = new FillBody(origin, { maxBytes: 100, expectedLength: undefined, memory: roomy(), ...v })
  const first = fill.reader()!
  origin.push(Buffer.from('one '))
  const second = fill.reader()!
  origin.push(Buffer.from('two'))
  origin.push(null)
  const [a, b] = await Promise.all([drain(first), drain(second)])
  assert.equal(a.toString(), 'one two')
  assert.equal(b.toString(), 'one two')
})

test('a storing fill keeps reading after its last reader went away, and stores', async () => {
  const v = verdict()
  const origin = source()
  const fill = new FillBody(origin, { maxBytes: 100, expectedLength: 6, memory: roomy(), ...v })
  fill.reader()!.destroy()
  origin.push(Buffer.from('abc'))
  origin.push(Buffer.from('def'))
  origin.push(null)
  assert.equal((await v.settled).body?.toString(), 'abcdef')
  assert.equal(origin.destroyed && !origin.readableEnded, false, 'the origin was not given up')
})

test('a body shorter than its Content-Length is abandoned as incomplete', async () => {
  const v = verdict()
  const fill = new FillBody(Readable.from([Buffer.from('ab')]), {
    maxBytes: 100,
    expectedLength: 10,
    memory: roomy(),
    ...v,
  })
  await drain(fill.reader()!)
  assert.deepEqual(await v.settled, { abandoned: 'incomplete' })
})

test('a body over the object limit still streams whole to its reader but is abandoned as too large', async () => {
  const v = verdict()
  const fill = new FillBody(Readable.from([Buffer.alloc(60), Buffer.alloc(60)]), {
    maxBytes: 100,
    expectedLength: undefined,
    memory: roomy(),
    ...v,
  })
  assert.equal((await drain(fill.reader()!)).length, 120)
  assert.deepEqual(await v.settled, { abandoned: 'too-large' })
})

test('past the fill memory a fill stops storing, gives its memory back and follows its slowest reader', async () => {
  const memory = new FillMemory(() => 100 * 1024)
  const v = verdict()
  const origin = source()
  const fill = new FillBody(origin, { maxBytes: 1 << 30, expectedLength: undefined, memory, ...v })
  const slow = fill.reader()!
  slow.pause()
  origin.push(Buffer.alloc(64 * 1024))
  await tick()
  assert.equal(memory.held, 64 * 1024)
  origin.push(Buffer.alloc(64 * 1024))
  assert.deepEqual(await v.settled, { abandoned: 'fill-memory' })
  assert.equal(memory.held, 0)
  assert.equal(fill.storing, false)
  // A pass-through reads at most a window ahead of its reader.
  for (let i = 0; i < 8; i++) origin.push(Buffer.alloc(64 * 1024))
  await tick()
  assert.equal(origin.isPaused(), true)
  // The reader takes some: what it has had is dropped, so a new reader cannot have the start.
  const taken = slow.read(64 * 1024) as Buffer
  await tick()
  assert.equal(fill.reader(), undefined)
  origin.push(null)
  assert.equal(taken.length + (await drain(slow)).length, 10 * 64 * 1024)
})

test('a pass-through with no reader left gives up the origin', async () => {
  const v = verdict()
  const origin = source()
  const fill = new FillBody(origin, { maxBytes: 10, expectedLength: undefined, memory: roomy(), ...v })
  const reader = fill.reader()!
  origin.push(Buffer.alloc(20))
  assert.deepEqual(await v.settled, { abandoned: 'too-large' })
  reader.destroy()
  await new Promise((resolve) => origin.once('close', resolve))
  assert.equal(origin.destroyed, true)
})

test('an origin error reaches every reader and abandons the body', async () => {
  const v = verdict()
  const origin = source()
  const memory = roomy()
  const fill = new FillBody(origin, { maxBytes: 100, expectedLength: undefined, memory, ...v })
  const drained = [fill.reader()!, fill.reader()!].map((reader) => assert.rejects(drain(reader), /reset/))
  origin.push(Buffer.from('part'))
  origin.destroy(new Error('reset'))
  await Promise.all(drained)
  assert.deepEqual(await v.settled, { abandoned: 'incomplete' })
  assert.equal(memory.held, 0)
})

test('the memory of a stored body is given back when its last reader is done', async () => {
  const v = verdict()
  const memory = roomy()
  const origin = source()
  const fill = new FillBody(origin, { maxBytes: 100, expectedLength: undefined, memory, ...v })
  const reader = fill.reader()!
  reader.pause()
  origin.push(Buffer.from('kept'))
  origin.push(null)
  await v.settled
  assert.equal(memory.held, 4, 'held while a reader still needs it')
  await drain(reader)
  await tick()
  assert.equal(memory.held, 0)
})
