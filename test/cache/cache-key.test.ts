import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { primaryKey, variantKey } from '../../src/cache/cache-key.ts'

describe('primaryKey', () => {
  const cases: { name: string; a: [string, string, string]; b: [string, string, string]; same: boolean }[] = [
    {
      name: 'RFC 9111 §2: the host is case-insensitive',
      a: ['http', 'Example.COM', '/a'],
      b: ['http', 'example.com', '/a'],
      same: true,
    },
    {
      name: 'RFC 9110 §4.2.3: http on its default port :80 is the same URI as without a port',
      a: ['http', 'example.com:80', '/a'],
      b: ['http', 'example.com', '/a'],
      same: true,
    },
    {
      name: 'RFC 9110 §4.2.3: https on its default port :443 is the same URI as without a port',
      a: ['https', 'example.com:443', '/a'],
      b: ['https', 'example.com', '/a'],
      same: true,
    },
    {
      name: 'RFC 9110 §4.2.3: :443 is not a default port for http',
      a: ['http', 'example.com:443', '/a'],
      b: ['http', 'example.com', '/a'],
      same: false,
    },
    {
      name: 'RFC 9110 §4.2.3: :80 is not a default port for https',
      a: ['https', 'example.com:80', '/a'],
      b: ['https', 'example.com', '/a'],
      same: false,
    },
    {
      name: 'RFC 9110 §4.2.3: a port that merely ends in 80 is kept',
      a: ['http', 'example.com:8080', '/a'],
      b: ['http', 'example.com', '/a'],
      same: false,
    },
    {
      name: 'RFC 9111 §2: the scheme is part of the key',
      a: ['http', 'example.com', '/a'],
      b: ['https', 'example.com', '/a'],
      same: false,
    },
    {
      name: 'RFC 9111 §2: the path is case-sensitive',
      a: ['http', 'example.com', '/A'],
      b: ['http', 'example.com', '/a'],
      same: false,
    },
    {
      name: 'RFC 9111 §2: the query is part of the key, as received',
      a: ['http', 'example.com', '/a?x=1&y=2'],
      b: ['http', 'example.com', '/a?y=2&x=1'],
      same: false,
    },
    {
      name: 'RFC 9111 §2: different hosts never share a key',
      a: ['http', 'a.example', '/a'],
      b: ['http', 'b.example', '/a'],
      same: false,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(primaryKey(...c.a) === primaryKey(...c.b), c.same)
    })
  }

  it('RFC 9111 §2, §4: the key is the target URI alone, so GET and HEAD share entries', () => {
    // the method is not an input: a HEAD is answered from the GET stored under the same key
    assert.equal(primaryKey.length, 3)
    assert.equal(primaryKey('https', 'Shop.Example:443', '/p?q=1'), 'https://shop.example/p?q=1')
  })
})

describe('variantKey', () => {
  it('RFC 9111 §4.1: each variant of a URI has its own key under the primary one', () => {
    const primary = primaryKey('http', 'example.com', '/a')
    const gzip = variantKey(primary, 'm1', '=gzip\n')
    assert.ok(gzip.startsWith(primary))
    assert.notEqual(gzip, variantKey(primary, 'm1', '=br\n'))
    assert.notEqual(gzip, primary)
  })
  it('RFC 9111 §4.1: variants stored under a replaced Vary marker are not reachable under the new one', () => {
    const primary = primaryKey('http', 'example.com', '/a')
    assert.notEqual(variantKey(primary, 'm1', '=gzip\n'), variantKey(primary, 'm2', '=gzip\n'))
  })
})
