/**
 * HTTP dates end to end (RFC 9110 §5.6.7, RFC 9111 §5.3): a response whose Expires is in
 * an obsolete form is reused while fresh, and one whose Expires is malformed is stale at
 * once, through a real proxy and origin.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (n: number) => String(n).padStart(2, '0')

function rfc850(ms: number): string {
  const d = new Date(ms)
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${time} GMT`
}

function asctime(ms: number): string {
  const d = new Date(ms)
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
  const day = String(d.getUTCDate()).padStart(2, ' ')
  return `${DAYS[d.getUTCDay()]?.slice(0, 3)} ${MONTHS[d.getUTCMonth()]} ${day} ${time} ${d.getUTCFullYear()}`
}

describe('HTTP dates through the proxy', () => {
  let origin: Origin
  let proxy: TestProxy
  before(async () => {
    origin = await startOrigin((req, res) => {
      const inAnHour = Date.now() + 3_600_000
      const expires: Record<string, string> = {
        '/rfc850': rfc850(inAnHour),
        '/asctime': asctime(inAnHour),
        '/utc': new Date(inAnHour).toUTCString().replace('GMT', 'UTC'),
      }
      res.writeHead(200, { date: new Date().toUTCString(), expires: expires[req.url ?? ''] ?? '0' })
      res.end(req.url)
    })
    proxy = await startProxy({ upstream: origin.url })
  })
  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  const twice = async (path: string) => {
    await send(`${proxy.url}${path}`)
    return String((await send(`${proxy.url}${path}`)).headers['cache-status'])
  }

  test('RFC 9110 §5.6.7: an Expires in the obsolete RFC 850 form keeps the response fresh', async () => {
    assert.match(await twice('/rfc850'), /; hit/)
    assert.equal(origin.count('/rfc850'), 1)
  })

  test('RFC 9110 §5.6.7: an Expires in the obsolete asctime form keeps the response fresh', async () => {
    assert.match(await twice('/asctime'), /; hit/)
    assert.equal(origin.count('/asctime'), 1)
  })

  test('RFC 9111 §5.3: an Expires in a zone other than GMT is invalid: already expired', async () => {
    assert.doesNotMatch(await twice('/utc'), /; hit/)
    assert.equal(origin.count('/utc'), 2)
  })
})
