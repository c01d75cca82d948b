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

/** What the connection says about keeping it, as node's ServerResponse knows it. */
export interface HeadConnection {
  /** The connection may stay open after this answer. */
  readonly keepAlive: boolean
  /** Advertised in `Keep-Alive: timeout=`; 0 advertises none. */
  readonly keepAliveTimeoutMs: number
  /** node's maxRequestsPerSocket (0: none), for `Keep-Alive: max=`. */
  readonly maxRequests: number
  /** This answer is the last the connection may carry: `Connection: close`. */
  readonly lastRequest: boolean
}

/** An answer's status line and header section, and what it decides for the connection. */
export interface PreparedHead {
  /** The whole header section, blank line included. */
  readonly text: string
  readonly contentLength: number
  /**
   * The answer ends the connection (node's `_last`): it says `connection: close`, or the
   * connection is not kept alive.
   */
  readonly close: boolean
}

/**
 * The header section `writeHead(status, headers)` would make on `connection`, taking the
 * fields that are `stored`'s unchanged from its prepared block; undefined when it cannot
 * (a field node treats specially, a value it would refuse, no length).
 */
export function preparedHead(
  status: number,
  headers: ResponseHeaders,
  stored: StoredFields,
  connection: HeadConnection,
): PreparedHead | undefined {
  // writeHead refuses a status out of range; a 1xx is never a final answer.
  if (!Number.isInteger(status) || status < 200 || status > 999) return undefined
  const fields = preparedFieldsOf(stored)
  if (fields === null) return undefined
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
        return undefined
      for (const one of value) {
        if (INVALID_VALUE.test(one) || (name === 'content-disposition' && NON_ASCII.test(one)))
          return undefined
        own += `${name}: ${one}\r\n`
      }
      if (name === 'date') hasDate = true
      continue
    }
    if (stored[name] === value) {
      matched += 1
      continue
    }
    if (!TOKEN.test(name) || INVALID_VALUE.test(value)) return undefined
    if (FRAMING.has(name)) {
      if (name !== 'connection' || value !== 'close') return undefined
      close = true
    } else if (name === 'content-length') {
      contentLength = value
    } else if (name === 'date') {
      hasDate = true
    } else if (name === 'content-disposition' && NON_ASCII.test(value)) {
      return undefined
    }
    own += `${name}: ${value}\r\n`
  }
  // A stored field removed or changed since the answer was made: the block no longer fits.
  if (matched !== fields.count) return undefined
  if (contentLength === undefined && fields.hasContentLength)
    contentLength = stored['content-length'] as string
  // Unframed answers (no length) are left to node, which knows to chunk them or close.
  if (contentLength === undefined) return undefined

  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n${fields.block}${own}`
  if (!hasDate) text += `Date: ${utcDate()}\r\n`
  if (close) {
    // The answer's own `connection: close`, already in the block.
  } else if (connection.keepAlive && connection.lastRequest) {
    // node closes a connection at its request limit itself, after this answer.
    text += 'Connection: close\r\n'
  } else if (connection.keepAlive) {
    text += 'Connection: keep-alive\r\n'
    if (connection.keepAliveTimeoutMs > 0) {
      const max = connection.maxRequests > 0 ? `, max=${connection.maxRequests}` : ''
      text += `Keep-Alive: timeout=${Math.floor(connection.keepAliveTimeoutMs / 1000)}${max}\r\n`
    }
  } else {
    close = true
    text += 'Connection: close\r\n'
  }
  return { text: `${text}\r\n`, contentLength: +contentLength, close }
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
  const r = res as unknown as ResponseInternals
  if (r._header !== null || r._removedConnection || !r.sendDate) return false
  // As writeHead: a client that asked for 100-continue and got a final status instead may
  // still send its body, so the connection is not kept.
  const keepAlive = r.shouldKeepAlive && !(r._expect_continue && !r._sent100)
  const head = preparedHead(status, headers, stored, {
    keepAlive,
    keepAliveTimeoutMs: r._defaultKeepAlive ? r._keepAliveTimeout : 0,
    maxRequests: ~~r._maxRequestsPerSocket,
    lastRequest: r.maxRequestsOnConnectionReached,
  })
  if (head === undefined) return false
  res.statusCode = status
  res.statusMessage = STATUS_CODES[status] ?? 'unknown'
  if (status === 204 || status === 304) r._hasBody = false
  r.shouldKeepAlive = keepAlive
  r._contentLength = head.contentLength
  if (head.close) r._last = true
  r._header = head.text
  r._headerSent = false
  return true
}
