import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FieldValue } from '../../src/cache/cache-control.ts'
import { parseVary, variantOf } from '../../src/cache/vary.ts'
import type { Headers } from './fixtures.ts'

describe('parseVary', () => {
  const cases: { name: string; vary: FieldValue; expected: readonly string[] | '*' | undefined }[] = [
    { name: 'RFC 9111 §4.1: without Vary no request field selects', vary: undefined, expected: undefined },
    { name: 'RFC 9111 §4.1: an empty Vary selects on nothing', vary: '', expected: undefined },
    { name: 'RFC 9111 §4.1: a Vary of only commas selects on nothing', vary: ' , ', expected: undefined },
    {
      name: 'RFC 9111 §4.1: field names are case-insensitive and stored lowercased',
      vary: 'Accept-Encoding',
      expected: ['accept-encoding'],
    },
    {
      name: 'RFC 9111 §4.1: the order of field names does not matter',
      vary: 'User-Agent, Accept-Encoding, accept-language',
      expected: ['accept-encoding', 'accept-language', 'user-agent'],
    },
    {
      name: 'RFC 9111 §4.1: whitespace and empty members are ignored',
      vary: ' accept ,,\taccept-encoding ',
      expected: ['accept', 'accept-encoding'],
    },
    {
      name: 'RFC 9111 §4.1: a field named twice selects once',
      vary: 'Accept, accept, ACCEPT',
      expected: ['accept'],
    },
    {
      name: 'RFC 9110 §5.3: Vary on several lines is one list',
      vary: ['accept', 'Accept-Encoding'],
      expected: ['accept', 'accept-encoding'],
    },
    { name: 'RFC 9111 §4.1: Vary: * always fails to match', vary: '*', expected: '*' },
    { name: 'RFC 9111 §4.1: a * anywhere in the list is Vary: *', vary: 'accept, *', expected: '*' },
    { name: 'RFC 9111 §4.1: a * on a later line is Vary: *', vary: ['accept', ' * '], expected: '*' },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(parseVary(c.vary), c.expected)
    })
  }
})

describe('variantOf', () => {
  const cases: { name: string; vary: string; a: Headers; b: Headers; same: boolean }[] = [
    {
      name: 'RFC 9111 §4.1: the same value selects the same variant',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip' },
      b: { 'accept-encoding': 'gzip' },
      same: true,
    },
    {
      name: 'RFC 9111 §4.1: a different value selects a different variant',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip' },
      b: { 'accept-encoding': 'br' },
      same: false,
    },
    {
      name: 'RFC 9111 §4.1: whitespace around list members is normalised away',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip,br' },
      b: { 'accept-encoding': '  gzip ,\tbr ' },
      same: true,
    },
    {
      name: 'RFC 9111 §4.1: runs of whitespace inside a value are folded',
      vary: 'user-agent',
      a: { 'user-agent': 'Mozilla/5.0 (X11)' },
      b: { 'user-agent': 'Mozilla/5.0   (X11)' },
      same: true,
    },
    {
      name: 'RFC 9111 §4.1: several field lines are combined before comparing',
      vary: 'accept',
      a: { accept: ['text/html', 'application/json'] },
      b: { accept: 'text/html, application/json' },
      same: true,
    },
    {
      name: 'RFC 9110 §12.5.3: Accept-Encoding codings are case-insensitive',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'GZIP, BR' },
      b: { 'accept-encoding': 'gzip, br' },
      same: true,
    },
    {
      name: 'RFC 9110 §12.5.3: Accept-Encoding members are a set: their order carries no meaning',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip, deflate, br' },
      b: { 'accept-encoding': 'br,gzip , deflate' },
      same: true,
    },
    {
      name: 'RFC 9110 §12.5.3: Accept-Encoding weights still count',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip;q=0.5, br' },
      b: { 'accept-encoding': 'gzip, br;q=0.5' },
      same: false,
    },
    {
      name: 'RFC 9110 §5.6.6: whitespace around ; and = in parameters is folded away',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip ; q=0.5' },
      b: { 'accept-encoding': 'gzip;q = 0.5' },
      same: true,
    },
    {
      name: 'RFC 5646 §2.1.1: language tags are case-insensitive',
      vary: 'accept-language',
      a: { 'accept-language': 'en-US, fr' },
      b: { 'accept-language': 'en-us, FR' },
      same: true,
    },
    {
      name: 'RFC 9111 §4.1: a field whose case matters keeps it',
      vary: 'x-tenant',
      a: { 'x-tenant': 'Acme' },
      b: { 'x-tenant': 'acme' },
      same: false,
    },
    {
      name: 'RFC 9111 §4.1: list order is significant (not every field is a set)',
      vary: 'accept-language',
      a: { 'accept-language': 'en, fr' },
      b: { 'accept-language': 'fr, en' },
      same: false,
    },
    {
      name: 'RFC 9111 §4.1: an absent field matches only a request where it is also absent',
      vary: 'accept-encoding',
      a: {},
      b: {},
      same: true,
    },
    {
      name: 'RFC 9111 §4.1: an absent field does not match an empty one',
      vary: 'accept-encoding',
      a: {},
      b: { 'accept-encoding': '' },
      same: false,
    },
    {
      name: 'RFC 9111 §4.1: fields that are not selecting do not matter',
      vary: 'accept-encoding',
      a: { 'accept-encoding': 'gzip', cookie: 'a=1' },
      b: { 'accept-encoding': 'gzip', cookie: 'a=2' },
      same: true,
    },
    {
      name: 'RFC 9111 §4.1: every selecting field must match',
      vary: 'accept, accept-encoding',
      a: { accept: 'text/html', 'accept-encoding': 'gzip' },
      b: { accept: 'text/html', 'accept-encoding': 'br' },
      same: false,
    },
    {
      name: 'RFC 9111 §4.1: values do not leak between fields (one empty and one absent is not the reverse)',
      vary: 'accept, accept-encoding',
      a: { accept: '' },
      b: { 'accept-encoding': '' },
      same: false,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const fields = parseVary(c.vary)
      assert.ok(Array.isArray(fields))
      assert.equal(variantOf(fields, c.a) === variantOf(fields, c.b), c.same)
    })
  }

  it('RFC 9111 §4.1: a selector reads a field as what it stands for, so different texts share a variant', () => {
    const codingOf = (headers: Headers) =>
      String(headers['accept-encoding'] ?? '').includes('br') ? 'br' : 'identity'
    const selectors = { 'accept-encoding': codingOf }
    const fields = ['accept', 'accept-encoding']
    const a = { accept: 'text/html', 'accept-encoding': 'gzip, deflate, br' }
    const b = { accept: 'text/html', 'accept-encoding': 'br;q=1' }
    assert.equal(variantOf(fields, a, selectors), variantOf(fields, b, selectors))
    assert.notEqual(variantOf(fields, a), variantOf(fields, b))
    // An absent field is read by the selector too: no Accept-Encoding selects identity.
    assert.equal(
      variantOf(fields, { accept: 'text/html' }, selectors),
      variantOf(fields, { accept: 'text/html', 'accept-encoding': 'gzip' }, selectors),
    )
    // Fields without a selector are read as before.
    assert.notEqual(
      variantOf(fields, a, selectors),
      variantOf(fields, { ...b, accept: 'text/plain' }, selectors),
    )
  })

  it('RFC 9111 §4.1: Vary with the same names in another order selects the same variant', () => {
    const headers = { accept: 'text/html', 'accept-encoding': 'gzip' }
    const one = parseVary('Accept, Accept-Encoding')
    const other = parseVary('accept-encoding,accept')
    assert.ok(Array.isArray(one) && Array.isArray(other))
    assert.equal(variantOf(one, headers), variantOf(other, headers))
  })
})
