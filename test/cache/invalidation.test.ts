import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { invalidatedKeys, isUnsafeMethod } from '../../src/cache/invalidation.ts'
import type { Headers } from './fixtures.ts'

describe('isUnsafeMethod', () => {
  it('RFC 9110 §9.2.1: GET, HEAD, OPTIONS and TRACE are safe', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE'])
      assert.equal(isUnsafeMethod(method), false, method)
  })
  it('RFC 9111 §4.4: POST, PUT, DELETE and PATCH are unsafe', () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'])
      assert.equal(isUnsafeMethod(method), true, method)
  })
  it('RFC 9111 §4.4: a method whose safety is unknown counts as unsafe', () => {
    for (const method of ['PURGE', 'PROPPATCH', 'FOO']) assert.equal(isUnsafeMethod(method), true, method)
  })
  it('RFC 9110 §9.1: methods are case-sensitive, so "get" is an unknown, unsafe method', () => {
    assert.equal(isUnsafeMethod('get'), true)
  })
})

describe('invalidatedKeys', () => {
  const self = 'http://example.com/items'
  const cases: { name: string; method?: string; status?: number; headers?: Headers; expected: string[] }[] = [
    {
      name: 'RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI',
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a 3xx is a non-error status and invalidates',
      status: 303,
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a 4xx does not invalidate',
      status: 404,
      expected: [],
    },
    {
      name: 'RFC 9111 §4.4: a 5xx does not invalidate',
      status: 500,
      expected: [],
    },
    {
      name: 'RFC 9111 §4.4: an interim 1xx does not invalidate',
      status: 100,
      expected: [],
    },
    {
      name: 'RFC 9111 §4.4: a safe method does not invalidate',
      method: 'GET',
      expected: [],
    },
    {
      name: 'RFC 9111 §4.4: PUT, DELETE and PATCH invalidate like POST',
      method: 'DELETE',
      status: 204,
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a method of unknown safety invalidates',
      method: 'PURGE',
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a same-origin relative Location is invalidated too',
      status: 201,
      headers: { location: '/items/7' },
      expected: [self, 'http://example.com/items/7'],
    },
    {
      name: 'RFC 9111 §4.4: a same-origin absolute Content-Location is invalidated too, with its query',
      headers: { 'content-location': 'http://example.com/items?page=2' },
      expected: [self, 'http://example.com/items?page=2'],
    },
    {
      name: 'RFC 9111 §4.4: Location and Content-Location are both invalidated',
      headers: { location: '/items/7', 'content-location': '/items/7.json' },
      expected: [self, 'http://example.com/items/7', 'http://example.com/items/7.json'],
    },
    {
      name: 'RFC 9111 §4.4: a Location naming the target itself is not listed twice',
      headers: { location: '/items', 'content-location': 'http://EXAMPLE.com:80/items' },
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: host case and the default port do not make another origin',
      headers: { location: 'http://Example.COM:80/other' },
      expected: [self, 'http://example.com/other'],
    },
    {
      name: 'RFC 9111 §4.4: a Location on another host is not invalidated',
      headers: { location: 'http://evil.example/items' },
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a Location with another scheme is another origin and not invalidated',
      headers: { location: 'https://example.com/items/7' },
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a Location on another port is another origin and not invalidated',
      headers: { 'content-location': 'http://example.com:8080/items/7' },
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a protocol-relative Location to another host is not invalidated',
      headers: { location: '//evil.example/items' },
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: the fragment of a Location is not part of the key',
      headers: { location: '/items/7#top' },
      expected: [self, 'http://example.com/items/7'],
    },
    {
      name: 'RFC 9111 §4.4: a Location that is not a URI reference is ignored',
      headers: { location: 'http://[bad' },
      expected: [self],
    },
    {
      name: 'RFC 9111 §4.4: a 4xx does not invalidate Location either',
      status: 409,
      headers: { location: '/items/7' },
      expected: [],
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(
        invalidatedKeys(
          c.method ?? 'POST',
          c.status ?? 200,
          'http',
          'example.com',
          '/items',
          c.headers ?? {},
        ),
        c.expected,
      )
    })
  }
})
