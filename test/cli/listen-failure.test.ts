/**
 * A listener that cannot bind ends the whole process with one line naming it, whatever the
 * worker count: a proxy left running without its port, or without /health, serves nobody.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { exitCodeOf, freePort, runEdgecache } from '../support/cli.ts'
import { waitFor } from '../support/client.ts'

const EXIT_CANNOT_LISTEN = 3

function assertOneLine(stderr: string, expected: RegExp): void {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, stderr)
  assert.match(lines[0] ?? '', expected)
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
}

describe('a listener that cannot bind', () => {
  let holder: Server
  let busyPort: number

  before(async () => {
    holder = createServer()
    holder.listen(0, '127.0.0.1')
    await once(holder, 'listening')
    busyPort = (holder.address() as { port: number }).port
  })
  after(() => holder.close())

  for (const workers of ['2', '1']) {
    for (const listener of ['proxy', 'admin'] as const) {
      test(`a busy ${listener} port ends the process (--workers ${workers})`, async () => {
        const busy = `127.0.0.1:${busyPort}`
        const free = `127.0.0.1:${await freePort()}`
        const run = runEdgecache([
          'serve',
          '--upstream',
          'http://127.0.0.1:9',
          '--workers',
          workers,
          '--listen',
          listener === 'proxy' ? busy : free,
          '--admin-listen',
          listener === 'admin' ? busy : free,
        ])
        assert.equal(await exitCodeOf(run), EXIT_CANNOT_LISTEN, run.err())
        assertOneLine(
          run.err(),
          new RegExp(`^edgecache: cannot listen on ${listener} 127\\.0\\.0\\.1:${busyPort}: address in use$`),
        )
      })
    }
  }

  test('an address this host does not have ends the process', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a host.
    const run = runEdgecache([
      'serve',
      '--upstream',
      'http://127.0.0.1:9',
      '--listen',
      `192.0.2.1:${await freePort()}`,
    ])
    assert.equal(await exitCodeOf(run), EXIT_CANNOT_LISTEN, run.err())
    assertOneLine(
      run.err(),
      /^edgecache: cannot listen on proxy 192\.0\.2\.1:\d+: address not available on this host$/,
    )
  })

  test('a second instance on a port an instance with workers serves is refused', async () => {
    // The workers listen with SO_REUSEPORT, which the kernel would let a second instance
    // of the same user join: the primary checks the port before it forks.
    const port = await freePort()
    const serveOn = async () =>
      runEdgecache([
        'serve',
        '--upstream',
        'http://127.0.0.1:9',
        '--workers',
        '2',
        '--listen',
        `127.0.0.1:${port}`,
        '--admin-listen',
        `127.0.0.1:${await freePort()}`,
      ])
    const first = await serveOn()
    try {
      await waitFor(async () => {
        if (first.child.exitCode !== null) throw new Error(`the first exited: ${first.err()}`)
        return (first.out().match(/edgecache listening/g) ?? []).length === 2
      }, 20_000)
      const second = await serveOn()
      assert.equal(await exitCodeOf(second), EXIT_CANNOT_LISTEN, second.err())
      assertOneLine(
        second.err(),
        new RegExp(`^edgecache: cannot listen on proxy 127\\.0\\.0\\.1:${port}: address in use$`),
      )
    } finally {
      first.child.kill('SIGTERM')
      await first.exited
    }
  })
})
