import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  deltaSeconds,
  type FieldValue,
  governingDirectives,
  parseCacheControl,
  qualifiedFields,
} from '../../src/cache/cache-control.ts'
import { targetedDirectives } from '../../src/cache/targeted.ts'
import type { Headers } from './fixtures.ts'

describe('parseCacheControl', () => {
  const cases: { name: string; field: FieldValue; expected: [string, string | true][] }[] = [
    {
      name: 'RFC 9111 §5.2: directive names are case-insensitive',
      field: 'Max-Age=60, NO-STORE, Public',
      expected: [
        ['max-age', '60'],
        ['no-store', true],
        ['public', true],
      ],
    },
    {
      name: 'RFC 9111 §5.2: a quoted-string argument is unquoted, commas inside it kept',
      field: 'private="Set-Cookie, X-User", max-age=5',
      expected: [
        ['private', 'Set-Cookie, X-User'],
        ['max-age', '5'],
      ],
    },
    {
      name: 'RFC 9110 §5.6.4: a backslash in a quoted-string escapes the next character',
      field: 'ext="a\\"b\\\\c"',
      expected: [['ext', 'a"b\\c']],
    },
    {
      name: 'RFC 9111 §4.2.1: a duplicated directive keeps its first occurrence',
      field: 'max-age=60, max-age=10, MAX-AGE=1',
      expected: [['max-age', '60']],
    },
    {
      name: 'RFC 9110 §5.3: several field lines are one comma-separated list',
      field: ['max-age=60', 'public, s-maxage=30'],
      expected: [
        ['max-age', '60'],
        ['public', true],
        ['s-maxage', '30'],
      ],
    },
    {
      name: 'RFC 9110 §5.6.1: empty list members and optional whitespace are ignored',
      field: ' ,, max-age=60 ,\t, no-cache ,',
      expected: [
        ['max-age', '60'],
        ['no-cache', true],
      ],
    },
    {
      name: 'RFC 9111 §5.2.3: unknown extension directives are kept for whoever understands them',
      field: 'max-age=60, x-ext=abc, stale-while-revalidate=30',
      expected: [
        ['max-age', '60'],
        ['x-ext', 'abc'],
        ['stale-while-revalidate', '30'],
      ],
    },
    { name: 'RFC 9111 §5.2: an absent field has no directives', field: undefined, expected: [] },
    { name: 'RFC 9111 §5.2: an empty field has no directives', field: '', expected: [] },
    { name: 'RFC 9111 §5.2: a field of only commas has no directives', field: ' , ,', expected: [] },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual([...parseCacheControl(c.field)], c.expected)
    })
  }
})

describe('deltaSeconds', () => {
  const cases: { name: string; field: string; expected: number | undefined }[] = [
    { name: 'RFC 9111 §1.2.2: delta-seconds is a non-negative integer', field: 'max-age=60', expected: 60 },
    { name: 'RFC 9111 §1.2.2: zero is a valid delta-seconds', field: 'max-age=0', expected: 0 },
    {
      name: 'RFC 9111 §5.2: the quoted form of a delta-seconds argument is accepted',
      field: 'max-age="60"',
      expected: 60,
    },
    { name: 'RFC 9111 §1.2.2: a negative value is invalid', field: 'max-age=-1', expected: undefined },
    { name: 'RFC 9111 §1.2.2: a fraction is invalid', field: 'max-age=1.5', expected: undefined },
    { name: 'RFC 9111 §1.2.2: a non-number is invalid', field: 'max-age=soon', expected: undefined },
    { name: 'RFC 9111 §1.2.2: an empty argument is invalid', field: 'max-age=', expected: undefined },
    { name: 'RFC 9111 §1.2.2: a missing argument is invalid', field: 'max-age', expected: undefined },
    { name: 'RFC 9111 §1.2.2: an absent directive has no value', field: 'public', expected: undefined },
    {
      name: 'RFC 9111 §1.2.2: a value too large to represent is capped at 2^31 seconds',
      field: 'max-age=99999999999999999999',
      expected: 2147483648,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(deltaSeconds(parseCacheControl(c.field), 'max-age'), c.expected)
    })
  }
})

describe('qualifiedFields', () => {
  const cases: { name: string; field: string; directive: string; expected: true | string[] | undefined }[] = [
    {
      name: 'RFC 9111 §5.2.2.4: an unqualified no-cache applies to the whole response',
      field: 'no-cache',
      directive: 'no-cache',
      expected: true,
    },
    {
      name: 'RFC 9111 §5.2.2.4: a qualified no-cache lists field names, lowercased',
      field: 'no-cache="Set-Cookie, X-Token"',
      directive: 'no-cache',
      expected: ['set-cookie', 'x-token'],
    },
    {
      name: 'RFC 9111 §5.2.2.7: a qualified private lists field names, empty members dropped',
      field: 'private="x-user,, X-Plan "',
      directive: 'private',
      expected: ['x-user', 'x-plan'],
    },
    {
      name: 'RFC 9111 §5.2.2.7: a private with an empty list counts as unqualified',
      field: 'private=""',
      directive: 'private',
      expected: true,
    },
    {
      name: 'RFC 9111 §5.2.2.7: an absent directive is undefined',
      field: 'public',
      directive: 'private',
      expected: undefined,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(qualifiedFields(parseCacheControl(c.field), c.directive), c.expected)
    })
  }
})

describe('targetedDirectives (RFC 9213 §2.1, RFC 9651 Dictionaries)', () => {
  const cases: { name: string; value: string | string[]; expected: [string, string | true][] | undefined }[] =
    [
      {
        name: 'integers and bare keys',
        value: 'max-age=60, no-store',
        expected: [
          ['max-age', '60'],
          ['no-store', true],
        ],
      },
      {
        name: 'a member set to ?0 is off',
        value: 'max-age=60, must-revalidate=?0',
        expected: [['max-age', '60']],
      },
      {
        name: 'several lines make one Dictionary',
        value: ['max-age=60', 'public'],
        expected: [
          ['max-age', '60'],
          ['public', true],
        ],
      },
      {
        name: 'private with a String of field names',
        value: 'private="set-cookie"',
        expected: [['private', 'set-cookie']],
      },
      {
        name: 'an unknown member is kept',
        value: 'max-age=5, x-ext=token',
        expected: [
          ['max-age', '5'],
          ['x-ext', 'token'],
        ],
      },
      {
        name: 'max-age as a String is the wrong type: the field is ignored',
        value: 'max-age="60", public',
        expected: undefined,
      },
      { name: 'max-age as a Token is the wrong type', value: 'max-age=sixty', expected: undefined },
      { name: 'max-age as a Decimal is the wrong type', value: 'max-age=1.5', expected: undefined },
      { name: 'a negative max-age is invalid', value: 'max-age=-1', expected: undefined },
      { name: 'no-store with a value other than a Boolean', value: 'no-store=1', expected: undefined },
      { name: 'an upper-case key is no Dictionary', value: 'Max-Age=60', expected: undefined },
      { name: 'a trailing comma is no Dictionary', value: 'max-age=60,', expected: undefined },
      { name: 'Cache-Control syntax with a space before =', value: 'max-age =60', expected: undefined },
      { name: 'an empty value has nothing in force', value: '', expected: undefined },
    ]
  for (const c of cases) {
    it(c.name, () => {
      const directives = targetedDirectives(c.value)
      assert.deepEqual(directives === undefined ? undefined : [...directives], c.expected)
    })
  }
})

describe('governingDirectives', () => {
  const targets = ['edgecache-cache-control', 'cdn-cache-control']
  const cases: { name: string; headers: Headers; expected: [string, string | true][]; targeted: boolean }[] =
    [
      {
        name: "RFC 9213 §2.1: edgecache's own targeted field beats CDN-Cache-Control and Cache-Control",
        headers: {
          'edgecache-cache-control': 'max-age=300',
          'cdn-cache-control': 'max-age=60',
          'cache-control': 'max-age=10',
        },
        expected: [['max-age', '300']],
        targeted: true,
      },
      {
        name: 'RFC 9213 §2.1: CDN-Cache-Control beats Cache-Control',
        headers: { 'cdn-cache-control': 'max-age=60', 'cache-control': 'no-store' },
        expected: [['max-age', '60']],
        targeted: true,
      },
      {
        name: 'RFC 9213 §2.1: the targeted field replaces Cache-Control whole, not directive by directive',
        headers: { 'cdn-cache-control': 'max-age=60', 'cache-control': 'private, must-revalidate' },
        expected: [['max-age', '60']],
        targeted: true,
      },
      {
        name: 'RFC 9213 §2.1: without a targeted field Cache-Control governs',
        headers: { 'cache-control': 'max-age=10' },
        expected: [['max-age', '10']],
        targeted: false,
      },
      {
        name: 'RFC 9213 §2.1: an empty targeted field is ignored and the next one governs',
        headers: { 'edgecache-cache-control': '', 'cdn-cache-control': 'max-age=60' },
        expected: [['max-age', '60']],
        targeted: true,
      },
      {
        name: 'RFC 9213 §2.1: a targeted field with no valid member falls back to Cache-Control',
        headers: { 'cdn-cache-control': ' , ,', 'cache-control': 'max-age=10' },
        expected: [['max-age', '10']],
        targeted: false,
      },
      {
        name: 'RFC 9213 §2.1: a field not in the target list is ignored',
        headers: { 'other-cdn-cache-control': 'max-age=999', 'cache-control': 'max-age=10' },
        expected: [['max-age', '10']],
        targeted: false,
      },
    ]
  for (const c of cases) {
    it(c.name, () => {
      const governing = governingDirectives(c.headers, targets)
      assert.deepEqual([...governing.directives], c.expected)
      assert.equal(governing.targeted, c.targeted)
    })
  }
})
