/** Which route regexes load and which are refused, and what an accepted one gives the matcher. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { checkPathRegex, maxRegexLength, withoutGroupNames } from '../../src/router/regex-safety.ts'

describe('accepted', () => {
  // [source, named groups, literal prefix]
  const cases: [string, string[], string][] = [
    ['\\.(css|js|png|woff2)$', [], ''],
    ['^/api/v[0-9]+/', [], '/api/v'],
    ['^/apis?/', [], '/api'],
    ['^/p/[^/]+/reviews$', [], '/p/'],
    ['^/(en|fr)/.*\\.html$', [], '/'],
    ['^/blog/.*', [], '/blog/'],
    ['^/u/(?<user>[a-z0-9_]+)/(?<tab>posts|likes)$', ['user', 'tab'], '/u/'],
    ['^/(?:[^/]+/)+index\\.html$', [], '/'],
    ['/p/\\d+$', [], ''],
    ['\\.(?:jpe?g|gif)$', [], ''],
    ['^/x|^/y', [], ''],
    ['^/(?=x)x+$', [], '/'],
  ]
  for (const [source, groups, prefix] of cases) {
    test(`/${source}/`, () => {
      const result = checkPathRegex(source)
      assert.ok(!('problem' in result), 'problem' in result ? result.problem : '')
      assert.deepEqual(result.groupNames, groups)
      assert.equal(result.literalPrefix, prefix)
      assert.equal(result.regex.source, new RegExp(source).source)
    })
  }
})

describe('refused', () => {
  // [source, the problem it must report]
  const cases: [string, RegExp][] = [
    ['(a+)+$', /^can backtrack catastrophically \(exponential time on a path repeating "a"\)/],
    ['^/(\\w+\\s?)*$', /exponential/],
    ['(.*)*x', /exponential/],
    ['(a|a)*$', /catastrophically/],
    ['(\\w|\\d)+$', /catastrophically/],
    ['\\d+\\d+x', /polynomial/],
    ['.*a.*a.*a.*a$', /polynomial/],
    ['[0-9]+$', /polynomial .*; anchor it with \^ or start it with literal text/],
    ['^(?:a{1,30}){1,30}$', /catastrophically/],
    ['^a{0,30}a{0,30}a{0,30}b', /catastrophically/],
    ['^/(a+)\\1$', /^backreferences are not allowed in route regexes$/],
    ['(', /^invalid regular expression: Unterminated group$/],
    ['a{2,1}', /^invalid regular expression: numbers out of order in \{\} quantifier$/],
    ['', /^must not be empty$/],
    [
      `^/${'a'.repeat(maxRegexLength)}`,
      new RegExp(`^longer than ${maxRegexLength} characters \\(got ${maxRegexLength + 2}\\)$`),
    ],
  ]
  for (const [source, problem] of cases) {
    test(`/${source.length > 40 ? `${source.slice(0, 37)}...` : source}/`, () => {
      const result = checkPathRegex(source)
      assert.ok('problem' in result, `expected /${source}/ to be refused`)
      assert.match(result.problem, problem)
    })
  }
})

test('withoutGroupNames keeps the pattern and drops only the names', () => {
  assert.equal(withoutGroupNames('^/u/(?<user>[a-z]+)/(?<id>\\d+(?<x>y))$'), '^/u/([a-z]+)/(\\d+(y))$')
  assert.equal(withoutGroupNames('\\.(css|js)$'), '\\.(css|js)$')
  assert.equal(withoutGroupNames('^(?:a)(?=b)(?<n>c)'), '^(?:a)(?=b)(c)')
})
