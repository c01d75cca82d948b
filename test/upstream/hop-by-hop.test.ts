import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { connectionOptions, isHopByHop, withoutHopByHop } from '../../src/upstream/hop-by-hop.ts'

describe('isHopByHop', () => {
  it('matches every field RFC 9110 §7.6.1 names, and any proxy-* field', () => {
    for (const name of [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-connection',
      'proxy-authenticate',
      'proxy-authorization',
      'proxy-anything',
    ]) {
      assert.equal(isHopByHop(name), true, name)
    }
  })

  it('leaves end-to-end fields alone', () => {
    for (const name of ['content-length', 'content-type', 'cache-control', 'trailers', 'tea', 'proxy']) {
      assert.equal(isHopByHop(name), false, name)
    }
  })
})

describe('connectionOptions', () => {
  it('is undefined for no Connection, close or keep-alive', () => {
    assert.equal(connectionOptions(undefined), undefined)
    assert.equal(connectionOptions('close'), undefined)
    assert.equal(connectionOptions('Keep-Alive'), undefined)
  })

  it('lists the named fields, lowercased and trimmed, across repeated lines', () => {
    assert.deepEqual(
      connectionOptions(['keep-alive, X-Secret', ' x-other ,']),
      new Set(['x-secret', 'x-other']),
    )
  })
})

describe('withoutHopByHop', () => {
  it('removes hop-by-hop fields and the fields Connection names', () => {
    const out = withoutHopByHop({
      connection: 'close, X-Secret',
      'x-secret': 's',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      'proxy-foo': 'bar',
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
      skipped: undefined,
    })
    assert.deepEqual(out, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] })
  })
})
