/**
 * `edgecache purge` against a running proxy: the command's flags reach the admin API and
 * the cached entries go.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parseArgs } from '../../src/cli/args.ts'
import { runPurge } from '../../src/cli/purge.ts'
import { closeClient, send } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy, type TestProxy } from '../support/proxy.ts'

const TOKEN = 'purge-cli-token-0123456789'

function capture() {
  let text = ''
  return {
    write: (chunk: string) => {
      text += chunk
    },
    text: () => text,
  }
}

describe('edgecache purge against a running proxy', () => {
  let origin: Origin
  let proxy: TestProxy

  before(async () => {
    origin = await startOrigin((req, res) => {
      const tag = req.url?.startsWith('/a') ? 'group:a' : 'group:b'
      res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': tag })
      res.end(req.url)
    })
    proxy = await startProxy({ upstream: origin.url, env: { EDGECACHE_ADMIN_TOKEN: TOKEN } })
  })

  after(async () => {
    await proxy.close()
    await origin.close()
    await closeClient()
  })

  const isHit = async (path: string) =>
    /; hit/.test((await send(`${proxy.url}${path}`)).header('cache-status') ?? '')

  test('purges by tag with the token from the environment and prints the count', async () => {
    for (const path of ['/a1', '/a2', '/b1']) await send(`${proxy.url}${path}`)
    const out = capture()
    const err = capture()
    const code = await runPurge(
      parseArgs(['purge', '--tag', 'group:a', '--admin', proxy.adminUrl]),
      { EDGECACHE_ADMIN_TOKEN: TOKEN },
      out,
      err,
    )
    assert.equal(code, 0, err.text())
    assert.match(out.text(), /purged 2 entries/)
    assert.equal(await isHit('/a1'), false)
    assert.equal(await isHit('/b1'), true)
  })

  test('purges a URL softly with the token from a flag', async () => {
    await send(`${proxy.url}/b2`)
    const out = capture()
    const code = await runPurge(
      parseArgs(['purge', '--url', `${proxy.url}/b2`, '--soft', '--admin', proxy.adminUrl, '--token', TOKEN]),
      {},
      out,
      capture(),
    )
    assert.equal(code, 0)
    assert.match(out.text(), /purged 1 entry \(soft\)/)
    assert.match((await send(`${proxy.url}/b2`)).header('cache-status') ?? '', /fwd=stale/)
  })

  test('a wrong token exits 1 with the server message', async () => {
    const err = capture()
    const code = await runPurge(
      parseArgs(['purge', '--all', '--admin', proxy.adminUrl, '--token', 'not-the-right-token-000']),
      {},
      capture(),
      err,
    )
    assert.equal(code, 1)
    assert.match(err.text(), /token/i)
    assert.equal(await isHit('/b1'), true)
  })
})
