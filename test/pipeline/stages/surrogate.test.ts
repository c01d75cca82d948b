import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Answer } from '../../../src/pipeline/answer.ts'
import { createFacts, type RequestContext } from '../../../src/pipeline/context.ts'
import { createSurrogateStage } from '../../../src/pipeline/stages/surrogate.ts'

const fields = {
  spaceSeparated: ['surrogate-key'],
  commaSeparated: ['cache-tag'],
  maxTags: 256,
  maxTagBytes: 1024,
}

function context(routeTags: string[]): RequestContext {
  const facts = createFacts()
  facts.tags = routeTags
  return {
    id: 'r',
    method: 'GET',
    scheme: 'http',
    host: 'h',
    target: '/',
    httpVersion: '1.1',
    headers: {},
    clientAddress: '127.0.0.1',
    body: undefined,
    receivedAt: 0,
    signal: new AbortController().signal,
    facts,
  }
}

const upstream = async (): Promise<Answer> => ({
  status: 200,
  headers: { 'surrogate-key': 'a b', 'cache-tag': 'b, c', 'content-type': 'text/plain' },
  body: undefined,
})

test('route tags and both tag fields reach the answer, deduplicated; the fields are removed', async () => {
  const stage = createSurrogateStage({ fields, strip: true, onDropped: () => {} })
  const answer = await stage.handle(context(['route:x', 'a']), upstream)
  assert.deepEqual(answer.tags, ['route:x', 'a', 'b', 'c'])
  assert.equal(answer.headers['surrogate-key'], undefined)
  assert.equal(answer.headers['cache-tag'], undefined)
  assert.equal(answer.headers['content-type'], 'text/plain')
})

test('with strip off the tag fields reach the client too', async () => {
  const stage = createSurrogateStage({ fields, strip: false, onDropped: () => {} })
  const answer = await stage.handle(context([]), upstream)
  assert.deepEqual(answer.tags, ['a', 'b', 'c'])
  assert.equal(answer.headers['surrogate-key'], 'a b')
  assert.equal(answer.headers['cache-tag'], 'b, c')
})
