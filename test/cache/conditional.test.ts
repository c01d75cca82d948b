import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isNotModified, notModifiedHeaders } from '../../src/cache/conditional.ts'
import type { StoredHeaders } from '../../src/cache/stored-response.ts'
import { DAY, type Headers, HOUR, httpDate, T0 } from './fixtures.ts'

describe('isNotModified', () => {
  const lastModified = T0 - DAY
  const cases: { name: string; request: Headers; stored: StoredHeaders; notModified: boolean }[] = [
    {
      name: 'RFC 9110 §13.1.2: If-None-Match with the stored ETag is answered 304',
      request: { 'if-none-match': '"v1"' },
      stored: { etag: '"v1"' },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match with another ETag gets the full response',
      request: { 'if-none-match': '"v2"' },
      stored: { etag: '"v1"' },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match uses weak comparison (weak request, strong stored)',
      request: { 'if-none-match': 'W/"v1"' },
      stored: { etag: '"v1"' },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match uses weak comparison (strong request, weak stored)',
      request: { 'if-none-match': '"v1"' },
      stored: { etag: 'W/"v1"' },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match matches any member of its list',
      request: { 'if-none-match': '"a", W/"b" ,"v1"' },
      stored: { etag: '"v1"' },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match on several lines is one list',
      request: { 'if-none-match': ['"a"', '"v1"'] },
      stored: { etag: '"v1"' },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match with no matching member gets the full response',
      request: { 'if-none-match': '"a", "b"' },
      stored: { etag: '"v1"' },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1.2: If-None-Match: * matches any stored representation',
      request: { 'if-none-match': '*' },
      stored: {},
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.2: an entity tag cannot match a stored response without ETag',
      request: { 'if-none-match': '"v1"' },
      stored: { 'last-modified': httpDate(lastModified) },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present',
      request: { 'if-none-match': '"v2"', 'if-modified-since': httpDate(T0) },
      stored: { etag: '"v1"', 'last-modified': httpDate(lastModified) },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1.3: an invalid If-Modified-Since is ignored: the full response',
      request: { 'if-modified-since': `${httpDate(lastModified + HOUR).slice(0, -3)}UTC` },
      stored: { 'last-modified': httpDate(lastModified), date: httpDate(T0) },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1.3: an If-Modified-Since sent on two lines is ignored',
      request: { 'if-modified-since': [httpDate(lastModified + HOUR), httpDate(lastModified + HOUR)] },
      stored: { 'last-modified': httpDate(lastModified), date: httpDate(T0) },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1.3: If-Modified-Since at Last-Modified is answered 304',
      request: { 'if-modified-since': httpDate(lastModified) },
      stored: { 'last-modified': httpDate(lastModified), date: httpDate(T0) },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.3: If-Modified-Since after Last-Modified is answered 304',
      request: { 'if-modified-since': httpDate(lastModified + HOUR) },
      stored: { 'last-modified': httpDate(lastModified), date: httpDate(T0) },
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.3: If-Modified-Since before Last-Modified gets the full response',
      request: { 'if-modified-since': httpDate(lastModified - HOUR) },
      stored: { 'last-modified': httpDate(lastModified), date: httpDate(T0) },
      notModified: false,
    },
    {
      name: 'RFC 9111 §4.3.2: without Last-Modified, If-Modified-Since is compared with Date',
      request: { 'if-modified-since': httpDate(T0) },
      stored: { date: httpDate(T0) },
      notModified: true,
    },
    {
      name: 'RFC 9111 §4.3.2: without Last-Modified, an If-Modified-Since before Date gets the full response',
      request: { 'if-modified-since': httpDate(T0 - HOUR) },
      stored: { date: httpDate(T0) },
      notModified: false,
    },
    {
      name: 'RFC 9111 §4.3.2: without Last-Modified or Date, If-Modified-Since is compared with the time stored',
      request: { 'if-modified-since': httpDate(T0 + HOUR) },
      stored: {},
      notModified: true,
    },
    {
      name: 'RFC 9110 §13.1.3: an invalid If-Modified-Since is ignored',
      request: { 'if-modified-since': 'yesterday' },
      stored: { 'last-modified': httpDate(lastModified) },
      notModified: false,
    },
    {
      name: 'RFC 9110 §13.1: a request without conditional fields gets the full response',
      request: {},
      stored: { etag: '"v1"', 'last-modified': httpDate(lastModified) },
      notModified: false,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(isNotModified(c.request, c.stored, T0), c.notModified)
    })
  }
})

describe('notModifiedHeaders', () => {
  it('RFC 9110 §15.4.5: a 304 carries the cache and validator fields a 200 would, and no content fields', () => {
    const stored: StoredHeaders = {
      'cache-control': 'max-age=60',
      'content-location': '/a.en',
      date: httpDate(T0),
      etag: '"v1"',
      expires: httpDate(T0 + HOUR),
      vary: ['accept', 'accept-encoding'],
      'last-modified': httpDate(T0 - DAY),
      'content-type': 'text/html',
      'content-length': '1234',
      'content-encoding': 'gzip',
      'x-custom': 'a',
    }
    assert.deepEqual(notModifiedHeaders(stored), {
      'cache-control': 'max-age=60',
      'content-location': '/a.en',
      date: httpDate(T0),
      etag: '"v1"',
      expires: httpDate(T0 + HOUR),
      vary: ['accept', 'accept-encoding'],
      'last-modified': httpDate(T0 - DAY),
    })
  })

  it('RFC 9110 §15.4.5: fields the stored response lacks are not invented', () => {
    assert.deepEqual(notModifiedHeaders({ etag: '"v1"', 'content-type': 'text/plain' }), { etag: '"v1"' })
  })
})
