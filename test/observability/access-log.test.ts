/**
 * The access line without pino: the JSON line has pino's shape and fields, strings are
 * escaped exactly as JSON.stringify escapes them, the clock writes what toISOString writes,
 * durations are rounded to the microsecond, and neither format carries a header field it
 * should not or a query string unless asked.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import {
  type AccessRequest,
  combinedClock,
  createAccessLog,
  escapeCombined,
  isoClock,
  jsonString,
} from '../../src/observability/access-log.ts'
import { createLogger } from '../../src/observability/logger.ts'

function request(changes: Partial<AccessRequest> = {}, facts: Partial<AccessRequest['facts']> = {}) {
  return {
    id: 'req-1',
    method: 'GET',
    host: 'shop.example',
    target: '/p/1?token=secret',
    httpVersion: '1.1',
    headers: {
      authorization: 'Bearer hunter2',
      cookie: 'session=hunter3',
      'user-agent': 'curl/8.5.0',
      referer: 'https://shop.example/list?page=2&token=secret',
    },
    clientAddress: '127.0.0.1',
    ...changes,
    facts: {
      route: 'products',
      cache: 'miss',
      upstreamStatus: 200,
      upstreamMs: 12.3456789,
      ruleTags: ['scripted', 'q"uote'],
      ...facts,
    },
  } satisfies AccessRequest
}

function lines(options: { format: 'json' | 'combined'; withQuery?: boolean; now?: () => number }) {
  const written: string[] = []
  const access = createAccessLog({
    format: options.format,
    withQuery: options.withQuery ?? false,
    output: { buffer: (line) => written.push(line) },
    pid: 4242,
    now: options.now ?? (() => Date.UTC(2026, 11, 3, 22, 11, 56, 813)),
  })
  return { access, written }
}

describe('JSON access lines', () => {
  test('have the fields, in the order, with the values pino wrote for them', () => {
    const req = request()
    const viaPino: string[] = []
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        viaPino.push(chunk.toString())
        callback()
      },
    })
    // The line as app.ts wrote it through pino before: a child logger, fields, 'request'.
    createLogger({ level: 'info', destination }).child({ component: 'access' }).info(
      {
        reqId: req.id,
        method: req.method,
        host: req.host,
        path: '/p/1',
        route: req.facts.route,
        status: 200,
        cacheStatus: req.facts.cache,
        upstreamStatus: req.facts.upstreamStatus,
        upstreamMs: 12.346,
        totalMs: 15,
        bytes: 1024,
        client: req.clientAddress,
        rules: req.facts.ruleTags,
      },
      'request',
    )
    const { access, written } = lines({ format: 'json' })
    access.write(req, 200, 1024, 15)
    const ours = JSON.parse(written[0]!)
    const theirs = JSON.parse(viaPino[0]!)
    assert.deepEqual(Object.keys(ours), Object.keys(theirs))
    assert.deepEqual({ ...ours, time: 0, pid: 0 }, { ...theirs, time: 0, pid: 0 })
    assert.equal(ours.pid, 4242)
    assert.equal(ours.time, '2026-12-03T22:11:56.813Z')
    assert.ok(written[0]!.endsWith('}\n'))
  })

  test('leave out what a request did not have, as JSON.stringify leaves out undefined', () => {
    const { access, written } = lines({ format: 'json' })
    const hit = { cache: 'hit', upstreamStatus: undefined, upstreamMs: undefined, ruleTags: [] }
    access.write(request({}, hit), 200, 10, 0)
    const line = JSON.parse(written[0]!)
    assert.equal(line.cacheStatus, 'hit')
    assert.ok(!('upstreamStatus' in line) && !('upstreamMs' in line) && !('rules' in line))
    access.write(request({}, { cache: undefined }), 431, 0, 0)
    assert.ok(!('cacheStatus' in JSON.parse(written[1]!)))
  })

  test('round durations to the microsecond', () => {
    const { access, written } = lines({ format: 'json' })
    access.write(request({}, { upstreamMs: 0.12299999990127981 }), 200, 1, 2.0004999)
    assert.match(written[0]!, /"upstreamMs":0\.123,/)
    assert.match(written[0]!, /"totalMs":2,/)
    access.write(request({}, { upstreamMs: 3.14209 }), 200, 1, 7.0006)
    assert.match(written[1]!, /"upstreamMs":3\.142,"totalMs":7\.001,/)
  })

  test('carry no header field, and the path without its query unless asked', () => {
    const { access, written } = lines({ format: 'json' })
    access.write(request(), 200, 1, 1)
    assert.equal(JSON.parse(written[0]!).path, '/p/1')
    assert.doesNotMatch(written[0]!, /secret|hunter|curl|Bearer|session/)
    const kept = lines({ format: 'json', withQuery: true })
    kept.access.write(request(), 200, 1, 1)
    assert.equal(JSON.parse(kept.written[0]!).path, '/p/1?token=secret')
    assert.doesNotMatch(kept.written[0]!, /hunter|curl|Bearer/)
  })

  test('stay one valid line whatever the strings hold', () => {
    const { access, written } = lines({ format: 'json' })
    const target = '/a"b\\c\n\r\t\u0000\u001f\u007f\u00e9\u2028\ud800x/\ud83d\ude00'
    access.write(request({ target, id: 'x"\n', host: 'h\u0001' }, { route: 'r\\"' }), 200, 1, 1)
    assert.equal(written[0]!.indexOf('\n'), written[0]!.length - 1)
    const line = JSON.parse(written[0]!)
    assert.equal(line.path, target)
    assert.equal(line.reqId, 'x"\n')
    assert.equal(line.host, 'h\u0001')
    assert.equal(line.route, 'r\\"')
  })
})

describe('jsonString', () => {
  test('writes every UTF-16 code unit as JSON.stringify writes it', () => {
    for (let unit = 0; unit <= 0xffff; unit++) {
      const s = `a${String.fromCharCode(unit)}b`
      assert.equal(jsonString(s), JSON.stringify(s), `code unit ${unit.toString(16)}`)
    }
  })

  test('writes surrogate pairs, lone surrogates and long strings as JSON.stringify does', () => {
    for (const s of [
      '',
      '\ud83d\ude00',
      '\ude00\ud83d',
      `${'x'.repeat(5000)}"`,
      '\\\\',
      'plain/path-1.html',
    ]) {
      assert.equal(jsonString(s), JSON.stringify(s))
    }
  })
})

describe('isoClock', () => {
  test('writes what toISOString writes, across seconds, and when the clock steps back', () => {
    let now = 0
    const time = isoClock(() => now)
    const base = Date.UTC(2026, 11, 31, 23, 59, 58, 0)
    for (const t of [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 2000, 2001, 1500, 5, 86_400_000 + 7]) {
      now = base + t
      assert.equal(time(), new Date(now).toISOString())
    }
  })
})

describe('combined access lines', () => {
  test('are the NCSA combined format, query left out of the request and the Referer', () => {
    const { access, written } = lines({ format: 'combined' })
    access.write(request(), 200, 1024, 3)
    assert.equal(
      written[0],
      '127.0.0.1 - - [03/Dec/2026:22:11:56 +0000] "GET /p/1 HTTP/1.1" 200 1024 ' +
        '"https://shop.example/list" "curl/8.5.0"\n',
    )
    assert.doesNotMatch(written[0]!, /secret|hunter|Bearer/)
  })

  test('keep the queries when asked, and write - for no body, no Referer, no User-Agent', () => {
    const { access, written } = lines({ format: 'combined', withQuery: true })
    access.write(request(), 304, 0, 3)
    assert.match(
      written[0]!,
      /"GET \/p\/1\?token=secret HTTP\/1\.1" 304 - "https:\/\/shop\.example\/list\?page=2&token=secret" /,
    )
    access.write(request({ headers: {}, httpVersion: '1.0', method: 'HEAD' }), 200, 0, 1)
    assert.match(written[1]!, /"HEAD \/p\/1\?token=secret HTTP\/1\.0" 200 - "-" "-"\n$/)
  })

  test('escape quotes, backslashes, control characters and bytes past ASCII as \\xHH', () => {
    const { access, written } = lines({ format: 'combined' })
    // node:http gives header values one character per byte: é in UTF-8 arrives as Ã©.
    const userAgent = 'evil" "x\\y\n\u00c3\u00a9'
    access.write(request({ headers: { 'user-agent': userAgent } }), 200, 1, 1)
    assert.ok(written[0]!.endsWith('"evil\\x22 \\x22x\\x5Cy\\x0A\\xC3\\xA9"\n'), written[0])
    assert.equal(escapeCombined('route-\u20ac'), 'route-\\xE2\\x82\\xAC')
    assert.equal(escapeCombined('plain'), 'plain')
  })

  test('time the line in UTC, day/month/year:hh:mm:ss', () => {
    let now = Date.UTC(2027, 0, 5, 3, 4, 5, 999)
    const time = combinedClock(() => now)
    assert.equal(time(), '05/Jan/2027:03:04:05 +0000')
    now += 1
    assert.equal(time(), '05/Jan/2027:03:04:06 +0000')
  })
})
