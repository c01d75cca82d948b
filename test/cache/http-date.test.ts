import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { formatHttpDate, parseHttpDate } from '../../src/cache/http-date.ts'

/** Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110 §5.6.7. */
const EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37)

describe('parseHttpDate', () => {
  // HTTP dates are always GMT: run in a zone far from UTC so a local-time reading shows.
  const zone = process.env.TZ
  before(() => {
    process.env.TZ = 'America/New_York'
  })
  after(() => {
    if (zone === undefined) delete process.env.TZ
    else process.env.TZ = zone
  })

  const cases: {
    name: string
    value: string | readonly string[] | undefined
    expected: number | undefined
  }[] = [
    {
      name: 'RFC 9110 §5.6.7: IMF-fixdate is accepted',
      value: 'Sun, 06 Nov 1994 08:49:37 GMT',
      expected: EXAMPLE,
    },
    {
      name: 'RFC 9110 §5.6.7: the obsolete RFC 850 format is accepted',
      value: 'Sunday, 06-Nov-94 08:49:37 GMT',
      expected: EXAMPLE,
    },
    {
      name: 'RFC 9110 §5.6.7: the obsolete asctime format is accepted, as GMT',
      value: 'Sun Nov  6 08:49:37 1994',
      expected: EXAMPLE,
    },
    {
      name: 'RFC 9111 §4.2.1: a field on several lines holds no one date',
      value: ['Sun, 06 Nov 1994 08:49:37 GMT', 'Mon, 07 Nov 1994 08:49:37 GMT'],
      expected: undefined,
    },
    {
      name: 'RFC 9110 §5.6.7: one line given as a list is that date',
      value: ['Sun, 06 Nov 1994 08:49:37 GMT'],
      expected: EXAMPLE,
    },
    {
      name: 'RFC 9110 §5.5: whitespace around the value is not part of it',
      value: '  Sun, 06 Nov 1994 08:49:37 GMT ',
      expected: EXAMPLE,
    },
    {
      name: 'RFC 9110 §5.6.7: asctime with a two-digit day',
      value: 'Sun Nov 16 08:49:37 1994',
      expected: Date.UTC(1994, 10, 16, 8, 49, 37),
    },
    ...[
      ['a zone other than GMT', 'Sun, 06 Nov 1994 08:49:37 UTC'],
      ['a numeric zone', 'Sun, 06 Nov 1994 08:49:37 +0000'],
      ['no comma', 'Sun 06 Nov 1994 08:49:37 GMT'],
      ['dashes in an IMF-fixdate', 'Sun, 06-Nov-1994 08:49:37 GMT'],
      ['an extra space', 'Sun, 06 Nov  1994 08:49:37 GMT'],
      ['a one-digit hour', 'Sun, 06 Nov 1994 8:49:37 GMT'],
      ['a one-digit day', 'Sun, 6 Nov 1994 08:49:37 GMT'],
      ['a lower-case month (the grammar is case-sensitive)', 'Sun, 06 nov 1994 08:49:37 GMT'],
      ['a day the month does not have', 'Thu, 31 Feb 1994 08:49:37 GMT'],
      ['an hour past 23', 'Sun, 06 Nov 1994 24:00:00 GMT'],
      ['RFC 850 with a four-digit year', 'Sunday, 06-Nov-1994 08:49:37 GMT'],
      ['RFC 850 with a short day name', 'Sun, 06-Nov-94 08:49:37 GMT'],
      ['asctime with a zone', 'Sun Nov  6 08:49:37 1994 GMT'],
      ['an ISO 8601 date', '1994-11-06T08:49:37Z'],
    ].map(([what, value]) => ({
      name: `RFC 9110 §5.6.7: ${what} is invalid`,
      value,
      expected: undefined,
    })),
    { name: 'RFC 9111 §5.3: "0" is not a date', value: '0', expected: undefined },
    { name: 'RFC 9111 §5.3: "-1" is not a date', value: '-1', expected: undefined },
    {
      name: 'RFC 9111 §5.3: a bare number of seconds is not a date',
      value: '1700000000',
      expected: undefined,
    },
    {
      name: 'RFC 9110 §5.6.7: text that is no date at all is invalid',
      value: 'tomorrow',
      expected: undefined,
    },
    { name: 'RFC 9110 §5.6.7: an empty value is invalid', value: '', expected: undefined },
    { name: 'RFC 9110 §5.6.7: an absent field has no date', value: undefined, expected: undefined },
    { name: 'RFC 9110 §5.6.7: an empty list of lines has no date', value: [], expected: undefined },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(parseHttpDate(c.value), c.expected)
    })
  }
})

describe('two-digit years (RFC 9110 §5.6.7)', () => {
  const now = Date.UTC(2026, 11, 3)
  it('a year up to 50 years ahead is in this century', () => {
    assert.equal(parseHttpDate('Friday, 18-Aug-56 02:01:18 GMT', now), Date.UTC(2056, 7, 18, 2, 1, 18))
  })
  it('a year more than 50 years ahead is the most recent past one with those digits', () => {
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now), EXAMPLE)
    assert.equal(parseHttpDate('Wednesday, 18-Aug-77 02:01:18 GMT', now), Date.UTC(1977, 7, 18, 2, 1, 18))
  })
})

describe('formatHttpDate', () => {
  it('RFC 9110 §5.6.7: dates are generated as IMF-fixdate', () => {
    assert.equal(formatHttpDate(EXAMPLE), 'Sun, 06 Nov 1994 08:49:37 GMT')
  })
  it('RFC 9110 §5.6.7: a generated date parses back to the same second', () => {
    assert.equal(parseHttpDate(formatHttpDate(EXAMPLE + 999)), EXAMPLE)
  })
})
