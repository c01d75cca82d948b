/**
 * Interim responses end to end (RFC 9110 §15.2): an origin's 102 and 103 reach the client
 * before the answer, over HTTP/1.1 and HTTP/2, and are never stored: their fields do not
 * leak into the answer or a later hit, and an HTTP/1.0 client gets none.
 */
import assert from 'node:assert/strict'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { openSession } from '../support/h2.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const LINK = '</app.css>; rel=preload; as=style'

interface Interim {
  readonly status: number
  readonly headers: IncomingHttpHeaders
}

interface Exchange {
  readonly interim: Interim[]
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** GET over HTTP/1.1 on a new connection, as curl makes, collecting the 1xx before the answer. */
function get(url: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const interim: Interim[] = []
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ interim, status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('information', (info) => interim.push({ status: info.statusCode, headers: info.headers }))
    req.on('error', reject)
    req.end()
  })
}

/** The raw bytes of the answer to one HTTP/1.0 request. */
function getHttp10(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`)
    })
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
}

describe('RFC 9110 §15.2: interim responses through the proxy', () => {
  let origin: Origin
  let proxy: TestProxy
  before(async () => {
    origin = await startOrigin((_req, res) => {
      res.writeProcessing()
      res.writeEarlyHints({ link: LINK, 'x-hint': 'early' })
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
      res.end('the page')
    })
    proxy = await startProxy({
      upstream: origin.url,
      env: { EDGECACHE_HTTP2__CLEARTEXT_LISTEN: '127.0.0.1:0' },
    })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
  })

  test('a 102 and a 103 from the origin reach an HTTP/1.1 client before the answer, in order', async () => {
    const first = await get(`${proxy.url}/page`)
    assert.deepEqual(
      first.interim.map((i) => i.status),
      [102, 103],
    )
    const hints = first.interim[1]?.headers
    assert.equal(hints?.link, LINK)
    assert.equal(hints?.['x-hint'], 'early')
    assert.equal(first.status, 200)
    assert.equal(first.body, 'the page')
    assert.match(String(first.headers['cache-status']), /fwd=uri-miss/)
  })

  test('the hints never become fields of the answer, nor of a later hit, which sends no 1xx', async () => {
    const miss = await get(`${proxy.url}/kept`)
    assert.equal(miss.headers.link, undefined)
    assert.equal(miss.headers['x-hint'], undefined)
    const hit = await get(`${proxy.url}/kept`)
    assert.match(String(hit.headers['cache-status']), /; hit/)
    assert.deepEqual(hit.interim, [])
    assert.equal(hit.headers.link, undefined)
    assert.equal(hit.headers['x-hint'], undefined)
    assert.equal(hit.body, 'the page')
    assert.equal(origin.count('/kept'), 1)
  })

  test('an HTTP/1.0 client gets the answer alone: no 1xx is sent to it', async () => {
    const text = await getHttp10(Number(new URL(proxy.url).port), '/old-client')
    assert.match(text, /^HTTP\/1\.1 200 /)
    assert.doesNotMatch(text, /^HTTP\/1\.1 1\d\d/m)
    assert.doesNotMatch(text, /^link:/im)
    assert.match(text, /the page$/)
  })

  test('over HTTP/2 the 103 arrives as informational headers before the answer', async () => {
    const session = await openSession(`http://127.0.0.1:${proxy.h2cPort}`)
    try {
      const informational: IncomingHttpHeaders[] = []
      const answer = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
        const stream = session.request({ ':path': '/over-h2' })
        stream.on('headers', (headers) => informational.push(headers))
        stream.on('response', (headers) => {
          stream.resume()
          resolve(headers)
        })
        stream.on('error', reject)
        stream.end()
      })
      assert.deepEqual(
        informational.map((h) => h[':status']),
        [102, 103],
      )
      assert.equal(informational[1]?.link, LINK)
      assert.equal(answer[':status'], 200)
      assert.equal(answer.link, undefined)
    } finally {
      session.close()
    }
  })
})
