/** routeCacheKey: query rules (ignore, keep, sort), header and cookie values, and the no-rules path. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { primaryKey } from '../../src/cache/cache-key.ts'
import { globMatch, type KeyHeaders, routeCacheKey } from '../../src/router/cache-key.ts'
import { defaultKeyPolicy, type KeyPolicy } from '../../src/router/route.ts'

const rules = (over: Partial<KeyPolicy>): KeyPolicy => ({ ...defaultKeyPolicy, ...over })
const key = (target: string, policy: KeyPolicy, headers: KeyHeaders = {}) =>
  routeCacheKey('https', 'Shop.Example:443', target, headers, policy)

describe('without rules', () => {
  const targets = ['/', '/p/1', '/p/1?b=2&a=1', '/p?', '/a%20b?x=%41&x=1']
  for (const target of targets) {
    test(`${target} keys exactly as primaryKey`, () => {
      assert.equal(key(target, defaultKeyPolicy), primaryKey('https', 'Shop.Example:443', target))
    })
  }
})

describe('query rules', () => {
  // [what, policy, target, expected target in the key]
  const cases: [string, Partial<KeyPolicy>, string, string][] = [
    ['ignore drops a named parameter', { ignoreQuery: ['fbclid'] }, '/p?a=1&fbclid=x&b=2', '/p?a=1&b=2'],
    [
      'ignore with a prefix glob',
      { ignoreQuery: ['utm_*'] },
      '/p?utm_source=x&a=1&utm_medium=y&utm=z',
      '/p?a=1&utm=z',
    ],
    ['ignore with an inner glob', { ignoreQuery: ['*_id*'] }, '/p?session_id=1&a=2&x_idx=3', '/p?a=2'],
    ['ignore with a lone * drops everything', { ignoreQuery: ['*'] }, '/p?a=1&b=2', '/p'],
    ['ignoring every parameter drops the ?', { ignoreQuery: ['utm_*'] }, '/p?utm_source=x', '/p'],
    ['an empty query is dropped when rules apply', { sortQuery: true }, '/p?', '/p'],
    ['empty pieces are dropped', { sortQuery: true }, '/p?b=1&&a=2&', '/p?a=2&b=1'],
    ['no query stays as it is', { ignoreQuery: ['x'], sortQuery: true }, '/p/1', '/p/1'],
    [
      'keep drops every other parameter',
      { keepQuery: ['page', 'q'] },
      '/s?q=shoes&utm_source=x&page=2',
      '/s?q=shoes&page=2',
    ],
    ['keep with a glob', { keepQuery: ['f_*'] }, '/s?f_color=red&x=1&f_size=9', '/s?f_color=red&f_size=9'],
    ['keep with nothing kept', { keepQuery: ['page'] }, '/s?x=1', '/s'],
    ['sort orders by name', { sortQuery: true }, '/p?c=3&a=1&b=2', '/p?a=1&b=2&c=3'],
    [
      'sort keeps repeated names in their order',
      { sortQuery: true },
      '/p?b=1&a=2&b=0&a=1',
      '/p?a=2&a=1&b=1&b=0',
    ],
    [
      'without sort, repeated names keep their order',
      { ignoreQuery: ['x'] },
      '/p?b=1&a=2&b=0',
      '/p?b=1&a=2&b=0',
    ],
    ['sort by name only, not by value', { sortQuery: true }, '/p?a=2&a=10&a=1', '/p?a=2&a=10&a=1'],
    [
      'sort puts a name before its extensions',
      { sortQuery: true },
      '/p?ab=1&a=2&=3&B=4',
      '/p?=3&B=4&a=2&ab=1',
    ],
    ['an already sorted query is kept as it is', { sortQuery: true }, '/p?a=1&b=2&b=1', '/p?a=1&b=2&b=1'],
    [
      'a prefix glob longer than the name does not match',
      { ignoreQuery: ['utm_*'] },
      '/p?utm=1&ut=2',
      '/p?utm=1&ut=2',
    ],
    ['an exact name is not a prefix', { ignoreQuery: ['id'] }, '/p?id=1&idx=2&i=3', '/p?idx=2&i=3'],
    [
      'a parameter without = counts by its name',
      { ignoreQuery: ['debug'], sortQuery: true },
      '/p?z&debug&a',
      '/p?a&z',
    ],
    [
      'encoded characters are untouched and names compare as written',
      { ignoreQuery: ['utm_*'], sortQuery: true },
      '/p%2Fx?q=a%20b&utm%5Fsource=1&Z=%E2%82%AC',
      '/p%2Fx?Z=%E2%82%AC&q=a%20b&utm%5Fsource=1',
    ],
    [
      'ignore, keep and sort combined',
      { ignoreQuery: ['f_debug'], keepQuery: ['f_*', 'page'], sortQuery: true },
      '/s?page=2&utm_source=x&f_size=9&f_debug=1&f_color=red',
      '/s?f_color=red&f_size=9&page=2',
    ],
    ['values equal to a name are not names', { ignoreQuery: ['a'] }, '/p?b=a&a=b', '/p?b=a'],
  ]
  for (const [what, policy, target, expected] of cases) {
    test(what, () => assert.equal(key(target, rules(policy)), `https://shop.example${expected}`))
  }

  test('two URLs that differ only in ignored or ordered parameters share one key', () => {
    const policy = rules({ ignoreQuery: ['utm_*', 'fbclid'], sortQuery: true })
    assert.equal(key('/p/1?b=2&a=1&utm_source=news', policy), key('/p/1?a=1&fbclid=z&b=2', policy))
    assert.notEqual(key('/p/1?a=1', policy), key('/p/1?a=2', policy))
  })
})

describe('headers and cookies', () => {
  const cases: [string, Partial<KeyPolicy>, KeyHeaders, string][] = [
    [
      'a header value',
      { headers: ['accept-language'] },
      { 'accept-language': 'fr' },
      ' header:accept-language=fr',
    ],
    ['an absent header', { headers: ['accept-language'] }, {}, ' header:accept-language'],
    [
      'an empty header',
      { headers: ['accept-language'] },
      { 'accept-language': '' },
      ' header:accept-language=',
    ],
    [
      'a value with spaces and separators is encoded',
      { headers: ['x-variant'] },
      { 'x-variant': 'a b=c; d%' },
      ' header:x-variant=a%20b%3Dc%3B%20d%25',
    ],
    [
      'a repeated header field is joined',
      { headers: ['x-a'] },
      { 'x-a': ['1', '2'] },
      ' header:x-a=1%2C%202',
    ],
    [
      'header names are matched lowercase, in the policy order',
      { headers: ['X-B', 'x-a'] },
      { 'x-a': '1', 'x-b': '2' },
      ' header:x-b=2 header:x-a=1',
    ],
    [
      'a cookie value',
      { cookies: ['currency'] },
      { cookie: 'session=abc; currency=EUR; x=1' },
      ' cookie:currency=EUR',
    ],
    ['an absent cookie', { cookies: ['currency'] }, { cookie: 'session=abc' }, ' cookie:currency'],
    ['no Cookie header at all', { cookies: ['currency'] }, {}, ' cookie:currency'],
    ['an empty cookie', { cookies: ['currency'] }, { cookie: 'currency=; a=1' }, ' cookie:currency='],
    ['the first of a repeated cookie', { cookies: ['c'] }, { cookie: 'c=1; c=2' }, ' cookie:c=1'],
    ['a cookie name is not a suffix match', { cookies: ['id'] }, { cookie: 'xid=1; id=2' }, ' cookie:id=2'],
    ['cookies split over several fields', { cookies: ['b'] }, { cookie: ['a=1', 'b=2'] }, ' cookie:b=2'],
    [
      'headers first, then cookies',
      { headers: ['accept-language'], cookies: ['currency'] },
      { 'accept-language': 'de', cookie: 'currency=CHF' },
      ' header:accept-language=de cookie:currency=CHF',
    ],
  ]
  for (const [what, policy, headers, suffix] of cases) {
    test(what, () => assert.equal(key('/p/1', rules(policy), headers), `https://shop.example/p/1${suffix}`))
  }

  test('query rules and a suffix together', () => {
    assert.equal(
      key('/p?b=1&a=2', rules({ sortQuery: true, headers: ['accept-language'] }), {
        'accept-language': 'fr',
      }),
      'https://shop.example/p?a=2&b=1 header:accept-language=fr',
    )
  })

  test('different values never give one key', () => {
    const policy = rules({ headers: ['x-a', 'x-b'] })
    assert.notEqual(key('/', policy, { 'x-a': 'x-b=1' }), key('/', policy, { 'x-a': '', 'x-b': '1' }))
    assert.notEqual(
      key('/', policy, { 'x-a': 'a header:x-b=1' }),
      key('/', policy, { 'x-a': 'a', 'x-b': '1' }),
    )
  })
})

test('globMatch: * is any run of characters, everything else literal', () => {
  const cases: [string, string, boolean][] = [
    ['utm_*', 'utm_source', true],
    ['utm_*', 'utm_', true],
    ['utm_*', 'utm', false],
    ['*_id', 'session_id', true],
    ['*_id', 'session_idx', false],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['*', '', true],
    ['a.b', 'axb', false],
    ['**x', 'yx', true],
  ]
  for (const [pattern, text, expected] of cases)
    assert.equal(globMatch(pattern, text), expected, `${pattern} ~ ${text}`)
})
