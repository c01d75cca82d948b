import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  asParts,
  asWhole,
  type ByteRange,
  combineParts,
  coveredSlice,
  isWhole,
  type Part,
  parseContentRange,
  partOf,
  type StoredParts,
  strongValidator,
} from '../../src/cache/parts.ts'
import { parseByteRange, resolveRange } from '../../src/cache/range.ts'
import { httpDate, SECOND, storedFrom, T0 } from './fixtures.ts'

/** 100 bytes of a representation: byte i is i. */
const WHOLE = Buffer.from(Array.from({ length: 100 }, (_, i) => i))
const V1 = 'etag "v1"'

function part(start: number, end: number, validator = V1, length = 100): { part: Part; body: Buffer } {
  return { part: { validator, length, start, end }, body: WHOLE.subarray(start, end + 1) }
}

/** Stored parts holding `ranges` of WHOLE, as combineParts keeps them. */
function storedOf(ranges: ByteRange[], validator = V1): { parts: StoredParts; body: Buffer } {
  return {
    parts: { validator, length: 100, ranges },
    body: Buffer.concat(ranges.map(([s, e]) => WHOLE.subarray(s, e + 1))),
  }
}

describe('parseContentRange', () => {
  it('RFC 9110 §14.4: bytes first-last/complete', () => {
    assert.deepEqual(parseContentRange('bytes 0-99/1000'), { start: 0, end: 99, length: 1000 })
  })
  it('RFC 9110 §14.4: an unknown complete length is *', () => {
    assert.deepEqual(parseContentRange('bytes 10-19/*'), { start: 10, end: 19, length: undefined })
  })
  for (const value of ['bytes 20-10/100', 'bytes 0-100/100', 'bytes */100', 'items 0-1/2', undefined]) {
    it(`RFC 9110 §14.4: ${String(value)} is no single valid range`, () => {
      assert.equal(parseContentRange(value), undefined)
    })
  }
})

describe('strongValidator', () => {
  it('RFC 9110 §8.8.3: a strong ETag', () => {
    assert.equal(strongValidator({ etag: '"v1"' }), V1)
  })
  it('RFC 9110 §8.8.3: a weak ETag is no strong validator, even with a Last-Modified beside it', () => {
    assert.equal(
      strongValidator({ etag: 'W/"v1"', 'last-modified': httpDate(T0 - 3600 * SECOND), date: httpDate(T0) }),
      undefined,
    )
  })
  it('RFC 9110 §8.8.2.2: a Last-Modified at least one second before Date is strong for a cache', () => {
    assert.equal(
      strongValidator({ 'last-modified': httpDate(T0 - SECOND), date: httpDate(T0) }),
      `last-modified ${T0 - SECOND}`,
    )
  })
  it('RFC 9110 §8.8.2.2: a Last-Modified within a second of Date is weak', () => {
    assert.equal(strongValidator({ 'last-modified': httpDate(T0), date: httpDate(T0) }), undefined)
  })
  it('RFC 9110 §8.8.2.2: a Last-Modified without Date cannot be shown to be strong', () => {
    assert.equal(strongValidator({ 'last-modified': httpDate(T0) }), undefined)
  })
})

describe('partOf', () => {
  const base = { etag: '"v1"', 'content-range': 'bytes 0-9/100' }
  it('RFC 9111 §3.3: a single range of a known length with a strong ETag is a part', () => {
    assert.deepEqual(partOf(base), { validator: V1, length: 100, start: 0, end: 9 })
  })
  const cases: { name: string; headers: Record<string, string>; expected: string }[] = [
    {
      name: 'RFC 9110 §14.6: a multipart/byteranges 206 (no Content-Range) is not kept',
      headers: { etag: '"v1"' },
      expected: 'no-content-range',
    },
    {
      name: 'RFC 9110 §14.4: a complete length of * cannot be combined into a whole',
      headers: { ...base, 'content-range': 'bytes 0-9/*' },
      expected: 'unknown-length',
    },
    {
      name: 'RFC 9111 §3.4: a weak ETag cannot be combined',
      headers: { ...base, etag: 'W/"v1"' },
      expected: 'weak-validator',
    },
    {
      name: 'RFC 9111 §3.4: no validator at all cannot be combined',
      headers: { 'content-range': 'bytes 0-9/100' },
      expected: 'no-validator',
    },
    {
      name: 'edgecache policy: a part with Vary is not kept (the parts of a URL share one entry)',
      headers: { ...base, vary: 'accept-language' },
      expected: 'vary',
    },
    {
      name: 'edgecache policy: a content-coded part is not kept',
      headers: { ...base, 'content-encoding': 'gzip' },
      expected: 'content-coding',
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(partOf(c.headers), c.expected)
    })
  }
})

describe('combineParts', () => {
  it('RFC 9111 §3.3: the first part is stored as it came', () => {
    const { part: p, body } = part(10, 19)
    const out = combineParts(undefined, p, body)
    assert.equal(out.combined, false)
    assert.deepEqual(out.parts.ranges, [[10, 19]])
    assert.deepEqual(out.body, WHOLE.subarray(10, 20))
  })

  const cases: { name: string; stored: ByteRange[]; add: ByteRange; ranges: ByteRange[] }[] = [
    {
      name: 'RFC 9111 §3.4: disjoint parts with the same strong validator are kept side by side, in order',
      stored: [[50, 59]],
      add: [10, 19],
      ranges: [
        [10, 19],
        [50, 59],
      ],
    },
    {
      name: 'RFC 9111 §3.4: adjacent parts become one range',
      stored: [[0, 9]],
      add: [10, 19],
      ranges: [[0, 19]],
    },
    {
      name: 'RFC 9111 §3.4: overlapping parts become one range without doubled bytes',
      stored: [[0, 14]],
      add: [10, 29],
      ranges: [[0, 29]],
    },
    {
      name: 'RFC 9111 §3.4: a part inside a stored range changes nothing',
      stored: [[0, 49]],
      add: [10, 19],
      ranges: [[0, 49]],
    },
    {
      name: 'RFC 9111 §3.4: a part that bridges two stored ranges joins all three',
      stored: [
        [0, 9],
        [20, 29],
        [60, 69],
      ],
      add: [5, 24],
      ranges: [
        [0, 29],
        [60, 69],
      ],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const { part: p, body } = part(c.add[0], c.add[1])
      const out = combineParts(storedOf(c.stored), p, body)
      assert.equal(out.combined, true)
      assert.deepEqual(out.parts.ranges, c.ranges)
      assert.deepEqual(out.body, Buffer.concat(c.ranges.map(([s, e]) => WHOLE.subarray(s, e + 1))))
    })
  }

  it('RFC 9111 §3.4: a part with another strong validator replaces the stored parts', () => {
    const { part: p, body } = part(10, 19, 'etag "v2"')
    const out = combineParts(storedOf([[0, 49]]), p, body)
    assert.equal(out.combined, false)
    assert.deepEqual(out.parts, { validator: 'etag "v2"', length: 100, ranges: [[10, 19]] })
  })

  it('RFC 9111 §3.4: a part of another complete length replaces the stored parts', () => {
    const { part: p, body } = part(10, 19, V1, 200)
    assert.equal(combineParts(storedOf([[0, 49]]), p, body).combined, false)
  })

  it('RFC 9110 §15.3.7.3: parts that together hold every byte are whole', () => {
    const { part: p, body } = part(50, 99)
    const out = combineParts(storedOf([[0, 49]]), p, body)
    assert.equal(isWhole(out.parts), true)
    assert.deepEqual(out.body, WHOLE)
  })
})

describe('isWhole and coveredSlice', () => {
  const stored = storedOf([
    [0, 9],
    [50, 69],
  ])
  it('RFC 9110 §15.3.7.3: parts with a gap are not whole', () => {
    assert.equal(isWhole(stored.parts), false)
  })
  it('RFC 9111 §3.3: a range wholly within one stored range is answered with its bytes', () => {
    assert.deepEqual(coveredSlice(stored.parts, stored.body, 55, 64), WHOLE.subarray(55, 65))
    assert.deepEqual(coveredSlice(stored.parts, stored.body, 0, 9), WHOLE.subarray(0, 10))
  })
  it('RFC 9111 §3.3: a range that runs past what is stored is not answered', () => {
    assert.equal(coveredSlice(stored.parts, stored.body, 5, 14), undefined)
    assert.equal(coveredSlice(stored.parts, stored.body, 60, 70), undefined)
    assert.equal(coveredSlice(stored.parts, stored.body, 20, 29), undefined)
  })
})

describe('asParts and asWhole', () => {
  // Admitted as a 200 (the fixture admits as a whole-mode route does); asParts makes it a 206.
  const response = storedFrom({
    headers: {
      'cache-control': 'max-age=60',
      etag: '"v1"',
      'content-range': 'bytes 0-9/100',
      'content-length': '10',
    },
  })
  it('the stored parts keep no Content-Range or Content-Length: each answer has its own', () => {
    const stored = asParts(response, { validator: V1, length: 100, ranges: [[0, 9]] })
    assert.equal(stored.status, 206)
    assert.equal(stored.headers['content-range'], undefined)
    assert.equal(stored.headers['content-length'], undefined)
    assert.equal(stored.bodyLength, 10)
  })
  it('RFC 9110 §15.3.7.3: whole parts are a 200 with the complete length', () => {
    const whole = asWhole(response, 100)
    assert.equal(whole.status, 200)
    assert.equal(whole.headers['content-length'], '100')
    assert.equal(whole.headers['content-range'], undefined)
    assert.equal(whole.bodyLength, 100)
    assert.equal(whole.lifetimeMs, response.lifetimeMs)
  })
})

describe('parseByteRange and resolveRange', () => {
  it('RFC 9110 §14.1.2: first-last, first- and -suffix', () => {
    assert.deepEqual(parseByteRange('bytes=0-9'), { first: 0, last: 9 })
    assert.deepEqual(parseByteRange('bytes=10-'), { first: 10, last: undefined })
    assert.deepEqual(parseByteRange('bytes=-5'), { first: undefined, last: 5 })
  })
  it('RFC 9110 §14.2: several ranges, other units and bad syntax are not one range', () => {
    for (const value of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-1', 'bytes=-', undefined]) {
      assert.equal(parseByteRange(value), undefined, String(value))
    }
  })
  it('RFC 9110 §14.1.2: resolved against the complete length', () => {
    assert.deepEqual(resolveRange({ first: 90, last: 200 }, 100), { kind: 'partial', start: 90, end: 99 })
    assert.deepEqual(resolveRange({ first: undefined, last: 10 }, 100), {
      kind: 'partial',
      start: 90,
      end: 99,
    })
    assert.deepEqual(resolveRange({ first: 100, last: undefined }, 100), { kind: 'unsatisfiable' })
  })
})
