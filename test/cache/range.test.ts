import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FieldValue } from '../../src/cache/cache-control.ts'
import { type RangeSelection, selectRange } from '../../src/cache/range.ts'
import type { StoredHeaders } from '../../src/cache/stored-response.ts'
import { DAY, httpDate, SECOND, T0 } from './fixtures.ts'

const FULL: RangeSelection = { kind: 'full' }
const UNSATISFIABLE: RangeSelection = { kind: 'unsatisfiable' }
const part = (start: number, end: number): RangeSelection => ({ kind: 'partial', start, end })

describe('selectRange', () => {
  const lastModified = T0 - DAY
  const stored: StoredHeaders = { etag: '"v1"', 'last-modified': httpDate(lastModified) }
  const cases: {
    name: string
    range: FieldValue
    ifRange?: FieldValue
    stored?: StoredHeaders
    size?: number
    expected: RangeSelection
  }[] = [
    { name: 'RFC 9110 §14.2: without Range the whole response is sent', range: undefined, expected: FULL },
    {
      name: 'RFC 9110 §14.1.2: a first-last range selects those bytes',
      range: 'bytes=0-99',
      expected: part(0, 99),
    },
    { name: 'RFC 9110 §14.1.2: a one-byte range', range: 'bytes=0-0', expected: part(0, 0) },
    {
      name: 'RFC 9110 §14.1.2: an open-ended range runs to the last byte',
      range: 'bytes=100-',
      expected: part(100, 999),
    },
    {
      name: 'RFC 9110 §14.1.2: a last-pos past the end is clamped to the last byte',
      range: 'bytes=900-5000',
      expected: part(900, 999),
    },
    {
      name: 'RFC 9110 §14.1.2: a suffix range selects the last N bytes',
      range: 'bytes=-100',
      expected: part(900, 999),
    },
    {
      name: 'RFC 9110 §14.1.2: a suffix longer than the representation selects all of it',
      range: 'bytes=-5000',
      expected: part(0, 999),
    },
    {
      name: 'RFC 9110 §14.1: the range unit is case-insensitive and whitespace is tolerated',
      range: 'Bytes = 10 - 19',
      expected: part(10, 19),
    },
    {
      name: 'RFC 9110 §14.2: several field lines use the first',
      range: ['bytes=0-9', 'bytes=20-29'],
      expected: part(0, 9),
    },
    {
      name: 'RFC 9110 §14.2: multiple ranges are answered with the whole response',
      range: 'bytes=0-9,20-29',
      expected: FULL,
    },
    { name: 'RFC 9110 §14.2: an unknown range unit is ignored', range: 'items=0-9', expected: FULL },
    { name: 'RFC 9110 §14.2: a malformed Range is ignored', range: 'bytes=abc', expected: FULL },
    { name: 'RFC 9110 §14.2: a range without positions is ignored', range: 'bytes=-', expected: FULL },
    {
      name: 'RFC 9110 §14.1.1: a range whose last-pos is before its first-pos is invalid and ignored',
      range: 'bytes=10-5',
      expected: FULL,
    },
    {
      name: 'RFC 9110 §14.1.1: a first-pos at or past the end is unsatisfiable (416)',
      range: 'bytes=1000-',
      expected: UNSATISFIABLE,
    },
    {
      name: 'RFC 9110 §14.1.1: a first-last range past the end is unsatisfiable (416)',
      range: 'bytes=2000-3000',
      expected: UNSATISFIABLE,
    },
    {
      name: 'RFC 9110 §14.1.1: a zero-length suffix is unsatisfiable (416)',
      range: 'bytes=-0',
      expected: UNSATISFIABLE,
    },
    {
      name: 'RFC 9110 §14.1.1: any range of an empty representation is unsatisfiable (416)',
      range: 'bytes=0-',
      size: 0,
      expected: UNSATISFIABLE,
    },
    {
      name: 'RFC 9110 §14.1.1: a suffix range of an empty representation is unsatisfiable (416)',
      range: 'bytes=-10',
      size: 0,
      expected: UNSATISFIABLE,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range with the stored strong ETag allows the range',
      range: 'bytes=0-9',
      ifRange: '"v1"',
      expected: part(0, 9),
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range with another ETag gets the whole response',
      range: 'bytes=0-9',
      ifRange: '"v2"',
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range with a weak ETag gets the whole response',
      range: 'bytes=0-9',
      ifRange: 'W/"v1"',
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range never matches a weak stored ETag (strong comparison)',
      range: 'bytes=0-9',
      ifRange: '"v1"',
      stored: { etag: 'W/"v1"' },
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range with a date equal to Last-Modified allows the range',
      range: 'bytes=0-9',
      ifRange: httpDate(lastModified),
      expected: part(0, 9),
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range with a date other than Last-Modified gets the whole response',
      range: 'bytes=0-9',
      ifRange: httpDate(lastModified + SECOND),
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range with a date and no stored Last-Modified gets the whole response',
      range: 'bytes=0-9',
      ifRange: httpDate(lastModified),
      stored: { etag: '"v1"' },
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range that is neither an ETag nor a date gets the whole response',
      range: 'bytes=0-9',
      ifRange: 'whenever',
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: a failed If-Range sends the whole response even for an unsatisfiable range',
      range: 'bytes=5000-',
      ifRange: '"v2"',
      expected: FULL,
    },
    {
      name: 'RFC 9110 §13.1.5: If-Range without Range is ignored',
      range: undefined,
      ifRange: '"v1"',
      expected: FULL,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(selectRange(c.range, c.ifRange, c.stored ?? stored, c.size ?? 1000), c.expected)
    })
  }
})
