import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { captureBody } from '../../../src/pipeline/stages/body-capture.ts'

function outcome() {
  let resolve!: (value: { body?: Buffer; abandoned?: string }) => void
  const settled = new Promise<{ body?: Buffer; abandoned?: string }>((r) => {
    resolve = r
  })
  return {
    settled,
    onComplete: (body: Buffer) => resolve({ body }),
    onAbandon: (reason: string) => resolve({ abandoned: reason }),
  }
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

test('hands over the whole body once it ended with the declared length', async () => {
  const o = outcome()
  const out = captureBody(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), {
    maxBytes: 100,
    expectedLength: 4,
    ...o,
  })
  assert.equal((await drain(out)).toString(), 'abcd')
  assert.equal((await o.settled).body?.toString(), 'abcd')
})

test('a body shorter than its Content-Length is abandoned as incomplete', async () => {
  const o = outcome()
  const out = captureBody(Readable.from([Buffer.from('ab')]), { maxBytes: 100, expectedLength: 10, ...o })
  await drain(out)
  assert.deepEqual(await o.settled, { abandoned: 'incomplete' })
})

test('a body over the object limit still streams but is abandoned as too large', async () => {
  const o = outcome()
  const out = captureBody(Readable.from([Buffer.alloc(60), Buffer.alloc(60)]), {
    maxBytes: 100,
    expectedLength: undefined,
    ...o,
  })
  assert.equal((await drain(out)).length, 120)
  assert.deepEqual(await o.settled, { abandoned: 'too-large' })
})

test('an upstream error reaches the consumer and abandons the body', async () => {
  const o = outcome()
  const source = new Readable({ read() {} })
  const out = captureBody(source, { maxBytes: 100, expectedLength: undefined, ...o })
  source.push(Buffer.from('part'))
  source.destroy(new Error('reset'))
  await assert.rejects(drain(out), /reset/)
  assert.deepEqual(await o.settled, { abandoned: 'incomplete' })
})

test('a consumer that goes away destroys the upstream body and abandons it', async () => {
  const o = outcome()
  const source = new Readable({ read() {} })
  const out = captureBody(source, { maxBytes: 100, expectedLength: undefined, ...o })
  source.push(Buffer.from('part'))
  out.destroy()
  assert.deepEqual(await o.settled, { abandoned: 'incomplete' })
  await new Promise((resolve) => source.once('close', resolve))
  assert.equal(source.destroyed, true)
})
