// Tests src/cli/args.ts. It lives here rather than in test/cli/ because its flags are the config flags.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatUsage, type ParsedArgs, parseArgs } from '../../src/cli/args.ts'
import { loadConfig } from '../../src/config/load.ts'
import { hasCode } from '../../src/errors.ts'

const serve = (over: Partial<ParsedArgs> = {}): ParsedArgs => ({
  command: 'serve',
  flags: {},
  help: false,
  version: false,
  positionals: [],
  ...over,
})

describe('parseArgs', () => {
  const cases: [string, string[], ParsedArgs][] = [
    ['no arguments serve', [], serve()],
    ['serve by name', ['serve'], serve()],
    [
      'every serve flag',
      [
        '--upstream',
        'http://127.0.0.1:8080',
        '--listen=0.0.0.0:80',
        '--admin-listen',
        '127.0.0.1:9091',
        '--config',
        'edgecache.yaml',
        '--workers',
        '4',
        '--log-level',
        'debug',
        '--routes',
        'routes.yaml',
      ],
      serve({
        flags: {
          upstream: 'http://127.0.0.1:8080',
          listen: '0.0.0.0:80',
          'admin-listen': '127.0.0.1:9091',
          config: 'edgecache.yaml',
          workers: '4',
          'log-level': 'debug',
          routes: 'routes.yaml',
        },
      }),
    ],
    ['flags before the command', ['--workers', '2', 'serve'], serve({ flags: { workers: '2' } })],
    ['--help', ['--help'], serve({ help: true })],
    ['-h', ['-h'], serve({ help: true })],
    ['--version', ['--version'], serve({ version: true })],
    ['-v', ['-v'], serve({ version: true })],
    ['-c FILE', ['-c', 'edgecache.yaml'], serve({ flags: { config: 'edgecache.yaml' } })],
    ['the last of a repeated flag', ['--workers', '1', '--workers', '2'], serve({ flags: { workers: '2' } })],
    [
      'check-config FILE',
      ['check-config', 'edgecache.yaml'],
      serve({ command: 'check-config', positionals: ['edgecache.yaml'] }),
    ],
    [
      'demo',
      ['demo', '--listen', '127.0.0.1:0'],
      serve({ command: 'demo', flags: { listen: '127.0.0.1:0' } }),
    ],
    [
      'purge with repeated lists and switches',
      [
        'purge',
        '--tag',
        'a',
        '--tag=b',
        '--url',
        'https://x.example/p',
        '--prefix',
        'https://x.example/c/',
        '--soft',
        '--dry-run',
        '--admin',
        'http://127.0.0.1:1',
        '--token',
        't',
        '--config',
        'edgecache.yaml',
      ],
      serve({
        command: 'purge',
        flags: { config: 'edgecache.yaml' },
        purge: {
          tags: ['a', 'b'],
          urls: ['https://x.example/p'],
          prefixes: ['https://x.example/c/'],
          all: false,
          soft: true,
          dryRun: true,
          admin: 'http://127.0.0.1:1',
          token: 't',
        },
      }),
    ],
    [
      'purge --all, positionals kept for the command to refuse',
      ['purge', 'tag-a', '--all'],
      serve({
        command: 'purge',
        positionals: ['tag-a'],
        purge: { tags: [], urls: [], prefixes: [], all: true, soft: false, dryRun: false },
      }),
    ],
    [
      'routes --help',
      ['routes', '--help'],
      serve({ command: 'routes', help: true, routes: { headers: [] } }),
    ],
    [
      'routes test with its flags',
      [
        'routes',
        'test',
        '--routes',
        'r.yaml',
        'https://shop.example/p/1',
        '--method',
        'HEAD',
        '--header',
        'Accept-Language: fr',
        '--header=Cookie: a=1',
        '--config',
        'c.yaml',
      ],
      serve({
        command: 'routes',
        flags: { routes: 'r.yaml', config: 'c.yaml' },
        positionals: ['test', 'https://shop.example/p/1'],
        routes: { method: 'HEAD', headers: ['Accept-Language: fr', 'Cookie: a=1'] },
      }),
    ],
    [
      'positionals after --',
      ['check-config', '--', '--odd.yaml'],
      serve({ command: 'check-config', positionals: ['--odd.yaml'] }),
    ],
  ]
  for (const [name, argv, expected] of cases) {
    test(`parses ${name}`, () => assert.deepEqual(parseArgs(argv), expected))
  }

  const bad: [string, string[], string[]][] = [
    ['an unknown flag', ['--upstrem', 'http://x'], ['--upstrem: unknown flag']],
    ['an unknown short flag', ['-x'], ['-x: unknown flag']],
    [
      'a mistyped command',
      ['serv', '--upstream', 'http://x'],
      ['unknown command "serv"; did you mean serve? (commands: serve, check-config, demo, purge, routes)'],
    ],
    [
      'a command with two letters swapped',
      ['chekc-config', 'a.yaml'],
      [
        'unknown command "chekc-config"; did you mean check-config? (commands: serve, check-config, demo, purge, routes)',
      ],
    ],
    [
      'a word that is no command',
      ['http://x'],
      ['unknown command "http://x" (commands: serve, check-config, demo, purge, routes)'],
    ],
    ['a flag without its value', ['--upstream'], ['--upstream: expected URL']],
    ['a flag followed by another flag', ['--workers', '--listen', 'x'], ['--workers: expected N']],
    ['a value given to --help', ['--help=yes'], ['--help: takes no value']],
    [
      'a flag the command does not take',
      ['check-config', 'a.yaml', '--workers', '2'],
      ['--workers: not a flag of check-config'],
    ],
    ['a purge flag on serve', ['--tag', 'a'], ['--tag: not a flag of serve']],
    ['a value given to a purge switch', ['purge', '--all=yes'], ['--all: takes no value']],
    ['a purge list flag without its value', ['purge', '--url', '--soft'], ['--url: expected URL']],
    ['--admin-listen on purge', ['purge', '--admin-listen', 'x:1'], ['--admin-listen: not a flag of purge']],
    ['a routes flag on serve', ['--method', 'GET'], ['--method: not a flag of serve']],
    ['--header without its value', ['routes', 'test', '/', '--header'], ["--header: expected 'K: V'"]],
    [
      '--routes on check-config',
      ['check-config', 'a.yaml', '--routes', 'r.yaml'],
      ['--routes: not a flag of check-config'],
    ],
    [
      'every problem at once',
      ['--nope', '--also', '--upstream'],
      ['--nope: unknown flag', '--also: unknown flag', '--upstream: expected URL'],
    ],
  ]
  for (const [name, argv, problems] of bad) {
    test(`reports ${name} as EC_ERR_CLI_USAGE`, () => {
      assert.throws(
        () => parseArgs(argv),
        (err) => {
          assert.ok(hasCode(err, 'EC_ERR_CLI_USAGE'))
          assert.deepEqual((err as unknown as { problems: string[] }).problems, problems)
          return true
        },
      )
    })
  }

  test('its flags feed loadConfig', () => {
    const { flags } = parseArgs(['--upstream', 'http://127.0.0.1:1', '--workers', '3'])
    const config = loadConfig({ env: {}, flags })
    assert.equal(config.upstream.url, 'http://127.0.0.1:1')
    assert.equal(config.workers, 3)
  })
})

test('formatUsage starts every description in one column', () => {
  for (const command of ['serve', 'purge', 'routes', 'check-config'] as const) {
    const flagLines = formatUsage(command)
      .split('\n')
      .filter((line) => line.startsWith('  --'))
    const columns = new Set(flagLines.map((line) => /^ {2}--\S+(?: \S+)* {2,}/.exec(line)?.[0].length))
    assert.equal(columns.size, 1, `${command}: ${[...columns].join(', ')}`)
    assert.ok(!columns.has(undefined))
  }
})

test('formatUsage lists the flags of the command', () => {
  const usage = formatUsage('serve')
  for (const flag of [
    '--upstream URL',
    '--listen HOST:PORT',
    '--admin-listen',
    '--config FILE',
    '--workers N',
    '--log-level',
    '--store DRIVER',
    '--cache-dir DIR',
    '--help',
    '--version',
  ]) {
    assert.ok(usage.includes(flag), `usage mentions ${flag}`)
  }
  assert.ok(
    formatUsage('serve').includes('local (the default), memory, redis or tiered'),
    'usage names the default store',
  )
  assert.ok(formatUsage('demo').includes('--cache-dir DIR'), 'demo takes --cache-dir')
  assert.ok(!formatUsage('check-config').includes('--workers'))
  assert.ok(!formatUsage('check-config').includes('--cache-dir'))
  for (const flag of [
    '--tag TAG',
    '--url URL',
    '--prefix URL',
    '--all',
    '--soft',
    '--dry-run',
    '--admin URL',
    '--token T',
  ]) {
    assert.ok(formatUsage('purge').includes(flag), `purge usage mentions ${flag}`)
  }
  assert.ok(!formatUsage('serve').includes('\n  --tag'), 'serve lists no purge flags')
  assert.ok(formatUsage('serve').includes('--routes FILE'), 'serve takes --routes')
  for (const flag of ['--routes FILE', '--config FILE', '--method M', "--header 'K: V'"]) {
    assert.ok(formatUsage('routes').includes(flag), `routes usage mentions ${flag}`)
  }
})
