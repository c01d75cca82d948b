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
      name: 'RFC 9110 §5.6.7: several field lines use the first',
      value: ['Sun, 06 Nov 1994 08:49:37 GMT', 'Mon, 07 Nov 1994 08:49:37 GMT'],
      expected: EXAMPLE,
    },
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

describe('formatHttpDate', () => {
  it('RFC 9110 §5.6.7: dates are generated as IMF-fixdate', () => {
    assert.equal(formatHttpDate(EXAMPLE), 'Sun, 06 Nov 1994 08:49:37 GMT')
  })
  it('RFC 9110 §5.6.7: a generated date parses back to the same second', () => {
    assert.equal(parseHttpDate(formatHttpDate(EXAMPLE + 999)), EXAMPLE)
  })
})
