/**
 * `edgecache purge` against a real admin listener (port 0) with a recording Invalidator:
 * flags become the request body, the token comes from flag, env or config, and the exit
 * code and message say what happened.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { parseArgs } from '../../src/cli/args.ts'
import { describeResult, runPurge } from '../../src/cli/purge.ts'
import { EdgecacheError } from '../../src/errors.ts'
import { startAdmin, type TestAdmin } from '../admin/admin-harness.ts'

const TOKEN = 'cli-admin-token-000001'

let admin: TestAdmin
let dir = ''
before(async () => {
  admin = await startAdmin([TOKEN])
  dir = mkdtempSync(join(tmpdir(), 'edgecache-purge-'))
})
beforeEach(() => {
  admin.invalidator.calls.length = 0
  admin.invalidator.next = { purged: 0 }
})
after(async () => {
  await admin.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Run {
  readonly code: number
  readonly out: string
  readonly err: string
}

async function purge(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let out = ''
  let err = ''
  const code = await runPurge(
    parseArgs(['purge', ...argv]),
    env,
    { write: (text: string) => (out += text) },
    { write: (text: string) => (err += text) },
  )
  return { code, out, err }
}

/** The usual flags to reach the test listener with the right token. */
const to = (): string[] => ['--admin', admin.url, '--token', TOKEN]

describe('flags become the request', () => {
  const cases: [string, string[], object][] = [
    [
      'repeated --tag, --soft',
      ['--tag', 'product:42', '--tag=home', '--soft'],
      { tags: ['product:42', 'home'], soft: true, dryRun: false },
    ],
    [
      '--url and --prefix, repeated, with --dry-run',
      [
        '--url',
        'https://shop.example/p/1',
        '--url',
        'https://shop.example/p/2',
        '--prefix',
        'https://shop.example/c/',
        '--dry-run',
      ],
      {
        urls: ['https://shop.example/p/1', 'https://shop.example/p/2'],
        prefixes: ['https://shop.example/c/'],
        soft: false,
        dryRun: true,
      },
    ],
    ['--all', ['--all'], { all: true, soft: false, dryRun: false }],
  ]
  for (const [name, argv, expected] of cases) {
    test(name, async () => {
      const run = await purge([...argv, ...to()])
      assert.equal(run.code, 0, run.err)
      // The admin API knows the call for the CLI's by its User-Agent: the status page says so.
      assert.deepEqual(admin.invalidator.calls, [{ ...expected, source: 'cli' }])
    })
  }

  test('an --admin URL with a trailing slash still reaches /invalidate', async () => {
    const run = await purge(['--tag', 'a', '--admin', `${admin.url}/`, '--token', TOKEN])
    assert.equal(run.code, 0, run.err)
  })
})

describe('output', () => {
  test('prints what was purged and exits 0', async () => {
    admin.invalidator.next = { purged: 12 }
    const run = await purge(['--tag', 'a', '--soft', ...to()])
    assert.deepEqual(run, { code: 0, out: 'purged 12 entries (soft) in 3 ms\n', err: '' })
  })

  test('says "would purge" for a dry run', async () => {
    admin.invalidator.next = { purged: 1 }
    const run = await purge(['--all', '--dry-run', ...to()])
    assert.equal(run.out, 'would purge 1 entry in 3 ms (dry run)\n')
  })

  test('describeResult covers hard, soft and dry runs', () => {
    assert.equal(describeResult(0, false, false, 0.4), 'purged 0 entries in 0 ms')
    assert.equal(describeResult(2, true, true, 5), 'would purge 2 entries (soft) in 5 ms (dry run)')
  })
})

describe('the token', () => {
  test('comes from EDGECACHE_ADMIN_TOKEN', async () => {
    const run = await purge(['--tag', 'a', '--admin', admin.url], { EDGECACHE_ADMIN_TOKEN: TOKEN })
    assert.equal(run.code, 0, run.err)
    assert.equal(admin.invalidator.calls.length, 1)
  })

  test('is the first of a comma-separated EDGECACHE_ADMIN_TOKEN', async () => {
    const env = { EDGECACHE_ADMIN_TOKEN: `${TOKEN}, another-token-00000001` }
    const run = await purge(['--tag', 'a', '--admin', admin.url], env)
    assert.equal(run.code, 0, run.err)
  })

  test('--token beats the env', async () => {
    const run = await purge(['--tag', 'a', '--admin', admin.url, '--token', TOKEN], {
      EDGECACHE_ADMIN_TOKEN: 'stale-token-in-the-env-01',
    })
    assert.equal(run.code, 0, run.err)
  })

  test('and the admin URL come from --config when not given', async () => {
    const port = new URL(admin.url).port
    const file = join(dir, 'edgecache.yaml')
    writeFileSync(file, `admin:\n  listen: "127.0.0.1:${port}"\n  tokens: [${TOKEN}]\n`)
    const run = await purge(['--tag', 'a', '--config', file])
    assert.equal(run.code, 0, run.err)
    const fromEnv = await purge(['--tag', 'a'], { EDGECACHE_CONFIG: file })
    assert.equal(fromEnv.code, 0, fromEnv.err)
    assert.equal(admin.invalidator.calls.length, 2)
  })

  test('a wildcard admin.listen is reached on loopback', async () => {
    const port = new URL(admin.url).port
    const file = join(dir, 'wildcard.json')
    writeFileSync(file, JSON.stringify({ admin: { listen: `0.0.0.0:${port}` } }))
    const run = await purge(['--tag', 'a', '--config', file], { EDGECACHE_ADMIN_TOKEN: TOKEN })
    assert.equal(run.code, 0, run.err)
  })

  test('a wrong token exits 1 with the server message', async () => {
    const run = await purge(['--tag', 'a', '--admin', admin.url, '--token', 'wrong-token-000000001'])
    assert.equal(run.code, 1)
    assert.equal(run.out, '')
    assert.equal(run.err, 'edgecache purge: invalid bearer token (HTTP 401)\n')
    assert.equal(admin.invalidator.calls.length, 0)
  })

  test('a server without tokens: exit 1 with its message on how to set one', async () => {
    const open = await startAdmin([])
    try {
      const run = await purge(['--tag', 'a', '--admin', open.url, '--token', TOKEN])
      assert.equal(run.code, 1)
      assert.match(run.err, /set admin\.tokens in the config file or EDGECACHE_ADMIN_TOKEN \(HTTP 403\)/)
    } finally {
      await open.close()
    }
  })
})

describe('failures', () => {
  test('a server error exits 1 with its message', async () => {
    admin.invalidator.next = { error: new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['redis down']) }
    const run = await purge(['--tag', 'a', ...to()])
    assert.equal(run.code, 1)
    assert.equal(
      run.err,
      'edgecache purge: purge not done, nothing was invalidated: storage unavailable: redis down (HTTP 503)\n',
    )
  })

  test('an unreachable admin listener exits 1 naming the URL', async () => {
    const closed = await closedPort()
    const url = `http://127.0.0.1:${closed}`
    const run = await purge(['--tag', 'a', '--admin', url, '--token', TOKEN])
    assert.equal(run.code, 1)
    assert.match(
      run.err,
      new RegExp(`^edgecache purge: cannot reach the admin listener at ${url}: .*ECONNREFUSED`),
    )
  })

  test('a bad config file exits 1 naming the problem', async () => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'admin: { listen: nowhere }\n')
    const run = await purge(['--tag', 'a', '--config', file], { EDGECACHE_ADMIN_TOKEN: TOKEN })
    assert.equal(run.code, 1)
    assert.match(run.err, /admin\.listen: expected HOST:PORT, :PORT or PORT, got "nowhere"/)
  })

  const usage: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['nothing to purge', [], {}, /nothing to purge; name what to purge with --tag/],
    ['a positional', ['product:42'], {}, /unexpected argument "product:42"; name what to purge/],
    ['--all with --tag', ['--all', '--tag', 'a'], {}, /--all purges everything/],
    [
      'a relative --url',
      ['--url', '/p/1'],
      {},
      /--url: expected an absolute http:\/\/ or https:\/\/ URL, got "\/p\/1"/,
    ],
    ['a bad --prefix', ['--prefix', 'shop.example/'], {}, /--prefix: expected an absolute http/],
    ['an empty --tag', ['--tag='], {}, /--tag: must not be empty/],
    [
      'a bad --admin',
      ['--tag', 'a', '--admin', 'localhost:9091'],
      { EDGECACHE_ADMIN_TOKEN: TOKEN },
      /--admin: expected/,
    ],
    [
      'no token',
      ['--tag', 'a', '--admin', 'http://127.0.0.1:1'],
      {},
      /no admin token; pass --token T or set EDGECACHE_ADMIN_TOKEN/,
    ],
  ]
  for (const [name, argv, env, message] of usage) {
    test(`a usage error exits 2: ${name}`, async () => {
      const run = await purge(argv, env)
      assert.equal(run.code, 2)
      assert.match(run.err, message)
      assert.equal(admin.invalidator.calls.length, 0)
    })
  }

  test('parseArgs refuses purge flags on other commands and values on switches', () => {
    assert.throws(() => parseArgs(['--tag', 'a']), /--tag: not a flag of serve/)
    assert.throws(() => parseArgs(['purge', '--soft=yes']), /--soft: takes no value/)
    assert.throws(() => parseArgs(['purge', '--tag']), /--tag: expected TAG/)
  })
})

/** A loopback port nothing listens on: bound, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
