import assert from 'node:assert/strict'
import { PassThrough, Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { bufferRequestBody } from '../../src/pipeline/buffer-request-body.ts'

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

describe('bufferRequestBody', () => {
  it('gives a body that ends within the limit as one Buffer', async () => {
    const body = Readable.from([Buffer.from('abc'), Buffer.from('def')], { objectMode: false })
    const read = await bufferRequestBody(body, 10)
    assert.ok(Buffer.isBuffer(read))
    assert.equal(read.toString(), 'abcdef')
  })

  it('gives a body of exactly the limit as one Buffer', async () => {
    const read = await bufferRequestBody(
      Readable.from([Buffer.from('0123456789')], { objectMode: false }),
      10,
    )
    assert.ok(Buffer.isBuffer(read))
    assert.equal(read.length, 10)
  })

  it('gives an empty body as an empty Buffer', async () => {
    const read = await bufferRequestBody(Readable.from([], { objectMode: false }), 10)
    assert.ok(Buffer.isBuffer(read))
    assert.equal(read.length, 0)
  })

  it('hands back a longer body as the same stream, from its first byte, without waiting for its end', async () => {
    const body = new PassThrough()
    body.write('01234')
    body.write('56789X')
    const read = await bufferRequestBody(body, 10)
    assert.equal(read, body)
    // Still open: the rest is read by whoever sends it upstream.
    body.end('rest')
    assert.equal(await readAll(body), '0123456789Xrest')
  })

  it('rejects with the error a body fails with', async () => {
    const body = new PassThrough()
    body.write('part')
    const read = bufferRequestBody(body, 10)
    body.destroy(Object.assign(new Error('too large'), { code: 'EC_ERR_REQUEST_BODY_TOO_LARGE' }))
    await assert.rejects(read, { code: 'EC_ERR_REQUEST_BODY_TOO_LARGE' })
  })

  it('rejects when a body is closed before its end without an error: its client went away', async () => {
    const body = new PassThrough()
    const read = bufferRequestBody(body, 10)
    body.destroy()
    await assert.rejects(read, { code: 'ECONNRESET' })
  })
})
