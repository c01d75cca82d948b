import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeMeta, markerToMeta, responseToMeta } from '../../src/cache/stored-response.ts'
import { storedFrom } from './fixtures.ts'

describe('stored metadata', () => {
  const response = storedFrom({
    headers: { 'cache-control': 'max-age=60, stale-if-error=30', etag: '"v1"', vary: 'Accept-Encoding' },
  })
  it('a stored response survives the round trip through the store, as JSON', () => {
    const decoded = decodeMeta(JSON.parse(JSON.stringify(responseToMeta(response))))
    assert.equal(decoded?.kind, 'response')
    const back = decoded.response as unknown as Record<string, unknown>
    // JSON drops fields that are undefined (targeted here); they read back as undefined
    for (const [field, value] of Object.entries(response)) assert.deepEqual(back[field], value, field)
  })

  const cases: { name: string; meta: Readonly<Record<string, unknown>>; expected: unknown }[] = [
    {
      name: 'a Vary marker survives the round trip through the store, as JSON',
      meta: JSON.parse(JSON.stringify(markerToMeta({ fields: ['accept-encoding'], id: 'm1' }))),
      expected: { kind: 'vary', marker: { fields: ['accept-encoding'], id: 'm1' } },
    },
    {
      name: 'a record from another version is a miss',
      meta: { ...responseToMeta(response), v: 0 },
      expected: undefined,
    },
    {
      name: 'a record that is not edgecache’s is a miss',
      meta: { foo: 'bar' },
      expected: undefined,
    },
    {
      name: 'a response record without headers is a miss',
      meta: { v: 1, kind: 'response', status: 200 },
      expected: undefined,
    },
    {
      name: 'a Vary marker without an id is a miss',
      meta: { v: 1, kind: 'vary', fields: ['accept'] },
      expected: undefined,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(decodeMeta(c.meta), c.expected)
    })
  }
})
