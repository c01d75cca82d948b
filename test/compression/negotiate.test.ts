import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type CandidateResponse,
  type Chosen,
  type Coding,
  codingOf,
  forbidsTransform,
  isCompressibleType,
  isNegotiable,
  negotiate,
  varyWithAcceptEncoding,
  weakened,
} from '../../src/compression/negotiate.ts'

const ALL: readonly Coding[] = ['br', 'zstd', 'gzip']

describe('negotiate', () => {
  const cases: {
    name: string
    field: string | string[] | undefined
    offered?: readonly Coding[]
    chosen: Chosen
    accepts?: readonly Coding[]
  }[] = [
    { name: 'no Accept-Encoding gets identity', field: undefined, chosen: 'identity', accepts: [] },
    { name: 'an empty Accept-Encoding gets identity (RFC 9110 §12.5.3)', field: '', chosen: 'identity' },
    { name: 'identity alone gets identity', field: 'identity', chosen: 'identity', accepts: [] },
    { name: 'one coding is chosen', field: 'gzip', chosen: 'gzip', accepts: ['gzip'] },
    {
      name: 'without weights the server order decides',
      field: 'gzip, deflate, br, zstd',
      chosen: 'br',
      accepts: ['br', 'zstd', 'gzip'],
    },
    { name: 'the highest weight wins over the server order', field: 'br;q=0.5, gzip', chosen: 'gzip' },
    {
      name: 'q=0 refuses a coding (RFC 9110 §12.4.2)',
      field: 'br;q=0, gzip',
      chosen: 'gzip',
      accepts: ['gzip'],
    },
    { name: 'codings are case-insensitive', field: 'GZIP, Br', chosen: 'br' },
    { name: 'whitespace around parameters is allowed', field: 'br ; q = 0.2 , gzip ; q=0.8', chosen: 'gzip' },
    { name: 'x-gzip is gzip (RFC 9110 §8.4.1.3)', field: 'x-gzip', chosen: 'gzip', accepts: ['gzip'] },
    { name: '* accepts every coding not listed', field: '*', chosen: 'br', accepts: ['br', 'zstd', 'gzip'] },
    { name: '* with a listed refusal', field: 'br;q=0, *', chosen: 'zstd', accepts: ['zstd', 'gzip'] },
    {
      name: 'only codings not offered: identity',
      field: 'deflate, compress',
      chosen: 'identity',
      accepts: [],
    },
    {
      name: 'a coding accepted but not offered is still accepted',
      field: 'zstd, gzip;q=0.5',
      offered: ['br', 'gzip'],
      chosen: 'gzip',
      accepts: ['zstd', 'gzip'],
    },
    {
      name: 'the offered order is the preference',
      field: 'br, gzip',
      offered: ['gzip', 'br'],
      chosen: 'gzip',
    },
    { name: 'several field lines are one list', field: ['gzip;q=0.1', 'zstd'], chosen: 'zstd' },
    { name: 'an invalid weight counts as 0', field: 'br;q=2, gzip;q=abc, zstd;q=0.001', chosen: 'zstd' },
    {
      name: 'identity;q=0 still gets identity when nothing else is accepted',
      field: 'identity;q=0',
      chosen: 'identity',
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const acceptance = negotiate(c.field, c.offered ?? ALL)
      assert.equal(acceptance.chosen, c.chosen)
      if (c.accepts !== undefined) assert.deepEqual([...acceptance.accepts].sort(), [...c.accepts].sort())
    })
  }
})

describe('which responses are negotiated', () => {
  const rules = { types: ['text/html', 'application/json', 'image/*'], minBytes: 1024 }
  const base: CandidateResponse = {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    bodyLength: 4096,
  }
  const cases: {
    name: string
    change: Partial<CandidateResponse>
    expected: boolean
  }[] = [
    { name: 'a 200 of a listed type, long enough', change: {}, expected: true },
    {
      name: 'a body of unknown length counts as long enough',
      change: { bodyLength: undefined },
      expected: true,
    },
    { name: 'a body under the minimum size is not', change: { bodyLength: 1023 }, expected: false },
    { name: 'another status is not', change: { status: 404 }, expected: false },
    {
      name: 'RFC 9110 §7.7: no-transform is not',
      change: { headers: { 'content-type': 'text/html', 'cache-control': 'public, no-transform' } },
      expected: false,
    },
    {
      name: 'a type not listed is not',
      change: { headers: { 'content-type': 'text/css' } },
      expected: false,
    },
    { name: 'no Content-Type is not', change: { headers: {} }, expected: false },
    {
      name: 'an already-compressed type is not, even under a listed pattern',
      change: { headers: { 'content-type': 'image/png' } },
      expected: false,
    },
    {
      name: 'SVG under image/* is',
      change: { headers: { 'content-type': 'image/svg+xml' } },
      expected: true,
    },
    {
      name: 'a body in a coding edgecache decodes is, whatever its length',
      change: { headers: { 'content-type': 'text/html', 'content-encoding': 'gzip' }, bodyLength: 10 },
      expected: true,
    },
    {
      name: 'a body in a coding edgecache cannot decode is not',
      change: { headers: { 'content-type': 'text/html', 'content-encoding': 'deflate' } },
      expected: false,
    },
    {
      name: 'a part of a body (Content-Range) is not',
      change: { headers: { 'content-type': 'text/html', 'content-range': 'bytes 0-9/100' } },
      expected: false,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(isNegotiable({ ...base, ...c.change }, rules), c.expected)
    })
  }
})

describe('compression helpers', () => {
  it('RFC 9110 §8.8.3: a strong tag is weakened, a weak one kept', () => {
    assert.equal(weakened('"abc"'), 'W/"abc"')
    assert.equal(weakened(' W/"abc" '), 'W/"abc"')
    assert.equal(weakened(undefined), undefined)
  })

  it('Vary gains Accept-Encoding once, and Vary: * stays', () => {
    assert.equal(varyWithAcceptEncoding(undefined), 'Accept-Encoding')
    assert.equal(varyWithAcceptEncoding('Accept-Language'), 'Accept-Language, Accept-Encoding')
    assert.equal(varyWithAcceptEncoding('accept-encoding'), 'accept-encoding')
    assert.equal(varyWithAcceptEncoding('*'), '*')
  })

  it('Content-Encoding is read case-insensitively, x-gzip as gzip', () => {
    assert.equal(codingOf(undefined), 'identity')
    assert.equal(codingOf('identity'), 'identity')
    assert.equal(codingOf('GZIP'), 'gzip')
    assert.equal(codingOf('x-gzip'), 'gzip')
    assert.equal(codingOf('gzip, br'), 'gzip, br')
  })

  it('no-transform is found among other directives, not inside another word', () => {
    assert.equal(forbidsTransform('max-age=60, no-transform'), true)
    assert.equal(forbidsTransform(['public', 'No-Transform']), true)
    assert.equal(forbidsTransform('x-no-transform-please'), false)
    assert.equal(forbidsTransform(undefined), false)
  })

  it('type patterns match exactly or by type/*', () => {
    assert.equal(isCompressibleType('text/html', ['text/*']), true)
    assert.equal(isCompressibleType('text/html', ['text/css']), false)
    assert.equal(isCompressibleType('font/woff2', ['font/*']), false)
    assert.equal(isCompressibleType('font/ttf', ['font/*']), true)
  })
})
