/**
 * The header section of an HTTP/1.1 answer from the cache, written below `writeHead`.
 *
 * `writeHead` checks every field name and value and builds the header text anew for each
 * response: about 3 µs of a 1 KiB hit's 30. A stored response's fields are the same for
 * every hit on it, so they are checked and joined once per stored response object (a
 * WeakMap: the memory store and the local store's decoded copies keep that object while
 * they keep the entry) and each hit adds only its own fields (Age, Cache-Status,
 * Content-Length, the request id), checked as node checks them.
 *
 * What node's `_storeHeader` decides from the fields (keep-alive, Date, the framing) is
 * decided here the same way, and the result is handed to the ServerResponse as its header
 * (`_header`), which `end()` then writes with the body in one `writev`, with node keeping
 * pipelined responses in order, timeouts and 'finish' as for any response. Anything out of
 * the ordinary (a field node treats specially, a value it would refuse) goes back to
 * `writeHead`, so what the client gets never differs.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Answer, ResponseHeaders } from '../pipeline/answer.ts'

/** A stored response's fields, checked and joined once. */
interface PreparedFields {
  /** `name: value\r\n` for each field whose value is one string. */
  readonly block: string
  /** How many fields the block holds. */
  readonly count: number
  readonly hasDate: boolean
  readonly hasContentLength: boolean
}

/** Fields whose presence or value changes how node frames or keeps the connection. */
const FRAMING = new Set(['connection', 'transfer-encoding', 'keep-alive', 'expect', 'trailer'])

/** RFC 9110 §5.6.2 token, as node's checkIsHttpToken. */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/
/** What node's checkInvalidHeaderChar refuses in a value. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/
/** Node re-codes a Content-Disposition value with bytes above 0x7f; such a value takes writeHead. */
const NON_ASCII = /[\x80-\xff]/

/** Fields as a stored response holds them (never changed). */
type StoredFields = NonNullable<Answer['storedFields']>

const prepared = new WeakMap<StoredFields, PreparedFields | null>()

/** The stored fields prepared, or null when they must take writeHead. */
function preparedFieldsOf(stored: StoredFields): PreparedFields | null {
  let fields = prepared.get(stored)
  if (fields === undefined) {
    fields = prepare(stored)
    prepared.set(stored, fields)
  }
  return fields
}

function prepare(stored: StoredFields): PreparedFields | null {
  let block = ''
  let count = 0
  for (const name in stored) {
    const value = stored[name]!
    if (typeof value !== 'string') continue
    if (FRAMING.has(name) || !TOKEN.test(name) || INVALID_VALUE.test(value)) return null
    if (name === 'content-disposition' && NON_ASCII.test(value)) return null
    block += `${name}: ${value}\r\n`
    count += 1
  }
  return { block, count, hasDate: 'date' in stored, hasContentLength: 'content-length' in stored }
}

/** Node's Date value, made once a second as node's own is. */
let dateValue = ''
let dateSecond = -1
function utcDate(): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateValue = new Date(second * 1000).toUTCString()
  }
  return dateValue
}

/** The internals of a ServerResponse that `_storeHeader` reads and sets. */
interface ResponseInternals {
  _header: string | null
  _headerSent: boolean
  _hasBody: boolean
  _last: boolean
  _contentLength: number | null
  _removedConnection: boolean
  _keepAliveTimeout: number
  _defaultKeepAlive: boolean
  _maxRequestsPerSocket: number
  _expect_continue: boolean
  _sent100: boolean
  maxRequestsOnConnectionReached: boolean
  shouldKeepAlive: boolean
  sendDate: boolean
}

/**
 * Sets `res`'s status and header section from `headers`, as `writeHead(status, headers)`
 * would, taking the fields that are `stored`'s unchanged from its prepared block. False
 * when it cannot (nothing is changed then): the caller uses writeHead.
 */
export function writePreparedHead(
  res: ServerResponse,
  status: number,
  headers: ResponseHeaders,
  stored: StoredFields,
): boolean {
  // writeHead refuses a status out of range; a 1xx is never a final answer.
  if (!Number.isInteger(status) || status < 200 || status > 999) return false
  const fields = preparedFieldsOf(stored)
  if (fields === null) return false
  const r = res as unknown as ResponseInternals
  if (r._header !== null || r._removedConnection) return false
  let own = ''
  let matched = 0
  let hasDate = fields.hasDate
  let contentLength: string | undefined
  let close = false
  for (const name in headers) {
    const value = headers[name]!
    if (typeof value !== 'string') {
      // A list, one line per value as node writes it (but `cookie`, which it joins).
      if (FRAMING.has(name) || name === 'content-length' || name === 'cookie' || !TOKEN.test(name))
        return false
      for (const one of value) {
        if (INVALID_VALUE.test(one) || (name === 'content-disposition' && NON_ASCII.test(one))) return false
        own += `${name}: ${one}\r\n`
      }
      if (name === 'date') hasDate = true
      continue
    }
    if (stored[name] === value) {
      matched += 1
      continue
    }
    if (!TOKEN.test(name) || INVALID_VALUE.test(value)) return false
    if (FRAMING.has(name)) {
      if (name !== 'connection' || value !== 'close') return false
      close = true
    } else if (name === 'content-length') {
      contentLength = value
    } else if (name === 'date') {
      hasDate = true
    } else if (name === 'content-disposition' && NON_ASCII.test(value)) {
      return false
    }
    own += `${name}: ${value}\r\n`
  }
  // A stored field removed or changed since the answer was made: the block no longer fits.
  if (matched !== fields.count) return false
  if (contentLength === undefined && fields.hasContentLength)
    contentLength = stored['content-length'] as string
  // Unframed answers (no length) are left to node, which knows to chunk them or close.
  if (contentLength === undefined) return false

  res.statusCode = status
  res.statusMessage = STATUS_CODES[status] ?? 'unknown'
  let head = `HTTP/1.1 ${status} ${res.statusMessage}\r\n${fields.block}${own}`
  if (status === 204 || status === 304) r._hasBody = false
  // As writeHead: a client that asked for 100-continue and got a final status instead may
  // still send its body, so the connection is not kept.
  if (r._expect_continue && !r._sent100) r.shouldKeepAlive = false
  r._contentLength = +contentLength
  if (!hasDate && r.sendDate) head += `Date: ${utcDate()}\r\n`
  if (close) {
    r._last = true
  } else if (r.shouldKeepAlive && r.maxRequestsOnConnectionReached) {
    head += 'Connection: close\r\n'
  } else if (r.shouldKeepAlive) {
    head += 'Connection: keep-alive\r\n'
    if (r._keepAliveTimeout && r._defaultKeepAlive) {
      const max = ~~r._maxRequestsPerSocket > 0 ? `, max=${r._maxRequestsPerSocket}` : ''
      head += `Keep-Alive: timeout=${Math.floor(r._keepAliveTimeout / 1000)}${max}\r\n`
    }
  } else {
    r._last = true
    head += 'Connection: close\r\n'
  }
  r._header = `${head}\r\n`
  r._headerSent = false
  return true
}
