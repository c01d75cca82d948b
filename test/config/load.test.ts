import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type ConfigSources, checkConfigFile, loadConfig } from '../../src/config/load.ts'
import { hasCode } from '../../src/errors.ts'
import { defaultProxyOnlyFields } from '../../src/upstream/forwarding.ts'

let dir = ''
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgecache-config-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

/** Writes `text` to a fresh file in the test directory and returns its path. */
function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** The problems loadConfig reports for `sources`; fails when it does not throw EC_ERR_CONFIG_INVALID. */
function problemsOf(sources: ConfigSources): readonly string[] {
  try {
    loadConfig({ env: {}, ...sources })
  } catch (err) {
    assert.ok(hasCode(err, 'EC_ERR_CONFIG_INVALID'), `unexpected error: ${String(err)}`)
    const { problems } = err as unknown as { problems: readonly string[] }
    assert.equal(err.message, `invalid configuration: ${problems.join('; ')}`)
    return problems
  }
  assert.fail('expected loadConfig to throw')
}

describe('defaults', () => {
  test('gives every field but upstream.url and upstream.host a default', () => {
    const config = loadConfig({ env: {} })
    assert.deepEqual(config, {
      listen: { host: '0.0.0.0', port: 8000 },
      tls: {
        listen: { host: '0.0.0.0', port: 8443 },
        certificates: [],
        clientCert: 'none',
        clientSubjectHeader: 'x-client-cert-subject',
        redirectHttp: false,
      },
      http2: { enabled: true, maxConcurrentStreams: 100, maxClientResets: 200 },
      admin: { listen: { host: '127.0.0.1', port: 9091 }, tokens: [] },
      upstream: {
        connections: 128,
        connectTimeout: 5000,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
        keepAliveTimeout: 4000,
        healthCheckInterval: 5000,
        queue: 1000,
        tls: {},
      },
      upstreams: {},
      server: {
        maxHeaderBytes: 16 * 1024,
        maxHeaderCount: 100,
        maxUriBytes: 8 * 1024,
        maxBodyBytes: 10 * 1024 ** 2,
        requestBuffering: 1024 ** 2,
        headersTimeout: 10_000,
        requestTimeout: 60_000,
        keepAliveTimeout: 5000,
        shutdownTimeout: 10_000,
        maxConnections: 0,
        backlog: 4096,
        workerStallTimeout: 30_000,
        idleMemoryRelease: 10_000,
        reusePort: true,
        trustedProxies: [],
        stripRequestHeaders: ['x-http-method-override', 'x-original-url', 'x-rewrite-url'],
        proxyOnlyHeaders: [...defaultProxyOnlyFields],
        methods: ['*'],
        purgeMethod: { enabled: false, allow: [] },
        upgrades: { enabled: true, idleTimeout: 300_000, maxTunnels: 1000 },
        proxyProtocol: { enabled: false, allow: [] },
      },
      cache: {
        name: 'edgecache',
        heuristicFraction: 0.1,
        maxHeuristicTtl: 86_400_000,
        targetedField: 'edgecache-cache-control',
        requestDirectives: 'ignore',
        refreshFrom: [],
        refreshInterval: 1000,
        stripCdnCacheControl: false,
        collapseTimeout: 30_000,
        staleIfDisconnected: 3_600_000,
        fillMemory: 128 * 1024 * 1024,
        keep: 600_000,
        rangeRequests: 'whole',
      },
      compression: {
        enabled: true,
        codings: ['br', 'zstd', 'gzip'],
        types: [
          'text/html',
          'text/css',
          'text/plain',
          'text/javascript',
          'text/xml',
          'text/csv',
          'text/markdown',
          'application/javascript',
          'application/json',
          'application/ld+json',
          'application/manifest+json',
          'application/problem+json',
          'application/xml',
          'application/xhtml+xml',
          'application/rss+xml',
          'application/atom+xml',
          'application/wasm',
          'image/svg+xml',
          'image/x-icon',
          'font/ttf',
          'font/otf',
        ],
        minBytes: 1024,
        levels: { br: 5, gzip: 6, zstd: 3 },
      },
      surrogate: {
        spaceSeparatedFields: ['surrogate-key'],
        commaSeparatedFields: ['cache-tag'],
        stripFields: true,
        maxTags: 256,
        maxTagBytes: 1024,
      },
      storage: {
        driver: 'local',
        local: { path: '.edgecache', maxBytes: 1024 ** 3, maxObjectBytes: 8 * 1024 ** 2 },
      },
      rateLimit: { shared: 'auto' },
      workers: availableParallelism(),
      readiness: { requireUpstream: false },
      log: { level: 'info', access: true, accessSample: 1, accessQuery: false, accessFormat: 'json' },
    })
  })

  test('deep-freezes the result', () => {
    const config = loadConfig({ env: {} })
    assert.ok(Object.isFrozen(config))
    assert.ok(Object.isFrozen(config.listen))
    assert.ok(config.storage.driver === 'local' && Object.isFrozen(config.storage.local))
    assert.ok(Object.isFrozen(config.server.stripRequestHeaders))
    assert.throws(() => {
      ;(config.server as { backlog: number }).backlog = 1
    }, TypeError)
    assert.throws(() => (config.server.trustedProxies as string[]).push('10.0.0.1'), TypeError)
  })
})

describe('precedence', () => {
  test('defaults < file < env < flags, field by field', () => {
    const path = file('precedence.yaml', 'listen: "127.0.0.1:1001"\nworkers: 3\n')
    const env = { EDGECACHE_LISTEN: '127.0.0.1:1002' }
    const flags = { listen: '127.0.0.1:1003' }
    assert.deepEqual(loadConfig({ env: {} }).listen, { host: '0.0.0.0', port: 8000 })
    assert.deepEqual(loadConfig({ env: {}, file: path }).listen, { host: '127.0.0.1', port: 1001 })
    assert.deepEqual(loadConfig({ env, file: path }).listen, { host: '127.0.0.1', port: 1002 })
    const all = loadConfig({ env, file: path, flags })
    assert.deepEqual(all.listen, { host: '127.0.0.1', port: 1003 })
    assert.equal(all.workers, 3, 'a field set only in the file keeps the file value')
  })

  test('env overrides one nested field and keeps its file siblings', () => {
    const path = file(
      'nested.json',
      JSON.stringify({ storage: { local: { maxBytes: '1GiB', maxObjectBytes: '1MiB' } } }),
    )
    const config = loadConfig({ file: path, env: { EDGECACHE_STORAGE__LOCAL__MAX_BYTES: '512MiB' } })
    assert.equal(config.storage.driver, 'local')
    assert.deepEqual(config.storage.driver === 'local' && config.storage.local, {
      path: '.edgecache',
      maxBytes: 512 * 1024 ** 2,
      maxObjectBytes: 1024 ** 2,
    })
  })

  test('the config file comes from --config, then the file source, then EDGECACHE_CONFIG', () => {
    const a = file('a.yaml', 'workers: 1')
    const b = file('b.yaml', 'workers: 2')
    const c = file('c.yaml', 'workers: 3')
    assert.equal(loadConfig({ env: { EDGECACHE_CONFIG: c } }).workers, 3)
    assert.equal(loadConfig({ env: { EDGECACHE_CONFIG: c }, file: b }).workers, 2)
    assert.equal(loadConfig({ env: { EDGECACHE_CONFIG: c }, file: b, flags: { config: a } }).workers, 1)
  })
})

describe('files', () => {
  const yaml = `
listen: "[::1]:8000"
admin: { listen: "127.0.0.1:0" }
upstream:
  url: http://127.0.0.1:8080
  host: example.com
  connectTimeout: 500ms
server:
  maxHeaderBytes: 32KiB
  maxBodyBytes: 1048576
  requestTimeout: 0s
  trustedProxies: [10.0.0.0/8, "::1", 2001:db8::/32]
  stripRequestHeaders: [X-Foo]
cache: { heuristicFraction: 0.25, maxHeuristicTtl: 1h30m }
storage:
  driver: memory
  memory: { maxBytes: 1GB }
log: { level: debug }
`
  const expectFileValues = (path: string) => {
    const config = loadConfig({ env: {}, file: path })
    assert.deepEqual(config.listen, { host: '::1', port: 8000 })
    assert.deepEqual(config.admin.listen, { host: '127.0.0.1', port: 0 })
    assert.equal(config.upstream.url, 'http://127.0.0.1:8080')
    assert.equal(config.upstream.host, 'example.com')
    assert.equal(config.upstream.connectTimeout, 500)
    assert.equal(config.upstream.connections, 128)
    assert.equal(config.server.maxHeaderBytes, 32 * 1024)
    assert.equal(config.server.maxBodyBytes, 1024 ** 2)
    assert.equal(config.server.requestTimeout, 0)
    assert.deepEqual(config.server.trustedProxies, ['10.0.0.0/8', '::1', '2001:db8::/32'])
    assert.deepEqual(config.server.stripRequestHeaders, ['x-foo'])
    assert.equal(config.cache.heuristicFraction, 0.25)
    assert.equal(config.cache.maxHeuristicTtl, 5_400_000)
    assert.deepEqual(config.storage, {
      driver: 'memory',
      memory: { maxBytes: 1e9, maxObjectBytes: 8 * 1024 ** 2 },
    })
    assert.equal(config.log.level, 'debug')
  }

  test('reads YAML (.yaml and .yml)', () => {
    expectFileValues(file('full.yaml', yaml))
    expectFileValues(file('full.yml', yaml))
  })

  test('reads JSON', () => {
    const json = {
      listen: '[::1]:8000',
      admin: { listen: '127.0.0.1:0' },
      upstream: { url: 'http://127.0.0.1:8080', host: 'example.com', connectTimeout: '500ms' },
      server: {
        maxHeaderBytes: '32KiB',
        maxBodyBytes: 1048576,
        requestTimeout: '0s',
        trustedProxies: ['10.0.0.0/8', '::1', '2001:db8::/32'],
        stripRequestHeaders: ['X-Foo'],
      },
      cache: { heuristicFraction: 0.25, maxHeuristicTtl: '1h30m' },
      storage: { driver: 'memory', memory: { maxBytes: '1GB' } },
      log: { level: 'debug' },
    }
    expectFileValues(file('full.json', JSON.stringify(json)))
  })

  test('an empty YAML file means all defaults', () => {
    assert.deepEqual(loadConfig({ env: {}, file: file('empty.yaml', '') }), loadConfig({ env: {} }))
  })

  test('an empty upstream.host means not set', () => {
    assert.equal(
      loadConfig({ env: {}, file: file('host.yaml', 'upstream: { host: "" }') }).upstream.host,
      undefined,
    )
  })

  const fileErrors: [string, string, string, RegExp][] = [
    ['a missing file', 'missing.yaml', '', /^cannot read config file .*missing\.yaml: ENOENT/],
    [
      'YAML syntax',
      'bad.yaml',
      'a: 1\n  b: 2\n',
      /^cannot read config file .*bad\.yaml: YAML syntax error: .* at line 1, column 4$/,
    ],
    [
      'YAML duplicate keys',
      'dup.yaml',
      'workers: 1\nworkers: 2\n',
      /dup\.yaml: YAML syntax error: .*unique/i,
    ],
    ['JSON syntax', 'bad.json', '{ "listen": ', /^cannot read config file .*bad\.json: JSON syntax error: /],
    [
      'an unknown extension',
      'config.toml',
      'listen = 1',
      /config\.toml: expected a \.json, \.yaml or \.yml file$/,
    ],
  ]
  for (const [name, fileName, text, message] of fileErrors) {
    test(`reports ${name} as EC_ERR_CONFIG_FILE naming the file`, () => {
      const path = text === '' ? join(dir, fileName) : file(fileName, text)
      assert.throws(
        () => loadConfig({ env: {}, file: path }),
        (err) => hasCode(err, 'EC_ERR_CONFIG_FILE') && message.test(err.message),
      )
    })
  }

  test('a file that is not a mapping is a problem', () => {
    const path = file('list.yaml', '- a\n- b\n')
    assert.deepEqual(problemsOf({ file: path }), [
      `${path}: expected a mapping of config fields, got ["a","b"]`,
    ])
  })
})

describe('problems', () => {
  // [what, file content (YAML), expected problems]
  const fileCases: [string, string, string[]][] = [
    [
      'a bad size',
      'storage: { local: { maxBytes: lots } }',
      ['storage.local.maxBytes: expected a size like "256MiB", got "lots"'],
    ],
    [
      'a size below its minimum',
      'server: { maxUriBytes: 0 }',
      ['server.maxUriBytes: expected a size of at least 1 byte, got 0'],
    ],
    [
      'a negative size',
      'server: { maxBodyBytes: -1 }',
      ['server.maxBodyBytes: expected a size like "256MiB", got -1'],
    ],
    [
      'a bad duration',
      'upstream: { connectTimeout: 5 }',
      ['upstream.connectTimeout: expected a duration like "30s", got 5'],
    ],
    ['an unknown field', 'server: { maxHeadrBytes: 16KiB }', ['server.maxHeadrBytes: unknown field']],
    ['an unknown top-level field', 'cahce: {}', ['cahce: unknown field']],
    [
      'an unknown field inside a storage option',
      'storage: { local: { max: 1 } }',
      ['storage.local.max: unknown field'],
    ],
    [
      'a URL without a scheme',
      'upstream: { url: localhost }',
      ['upstream.url: expected an http:// or https:// URL, got "localhost"'],
    ],
    [
      'a non-http URL',
      'upstream: { url: "ftp://example.com" }',
      ['upstream.url: expected an http:// or https:// URL, got "ftp://example.com"'],
    ],
    [
      'an upstream on port 0',
      'upstream: { url: "http://127.0.0.1:0" }',
      ['upstream.url: expected a URL with a port from 1 to 65535, got "http://127.0.0.1:0"'],
    ],
    ['a bad listen address', 'listen: "8000x"', ['listen: expected HOST:PORT, :PORT or PORT, got "8000x"']],
    [
      'a listen port out of range',
      'listen: "127.0.0.1:65536"',
      ['listen: expected HOST:PORT, :PORT or PORT, got "127.0.0.1:65536"'],
    ],
    [
      'an unbracketed IPv6 listen address',
      'listen: "::1:8000"',
      ['listen: expected HOST:PORT, :PORT or PORT, got "::1:8000"'],
    ],
    [
      'a bad Host header',
      'upstream: { host: "a b" }',
      ['upstream.host: expected a host name, optionally with :PORT, got "a b"'],
    ],
    ['a section that is not a mapping', 'server: 5', ['server: expected a mapping, got 5']],
    [
      'a list that is not a list',
      'server: { trustedProxies: 10.0.0.1 }',
      ['server.trustedProxies: expected a list, got "10.0.0.1"'],
    ],
    [
      'an unknown storage driver',
      'storage: { driver: disk }',
      ['storage.driver: expected one of local, memory, redis, tiered, got "disk"'],
    ],
    [
      'a bad log level',
      'log: { level: loud }',
      ['log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    ],
    [
      'a fraction above 1',
      'cache: { heuristicFraction: 1.5 }',
      ['cache.heuristicFraction: expected a number from 0 to 1, got 1.5'],
    ],
    [
      'a cache name with a space',
      'cache: { name: "my cache" }',
      ['cache.name: expected a token (letters, digits, !#$%&\'*+-.^_`|~), got "my cache"'],
    ],
    [
      'an uppercase targeted field',
      'cache: { targetedField: CDN-Cache-Control }',
      ['cache.targetedField: expected a lowercase header field name, got "CDN-Cache-Control"'],
    ],
    ['a non-integer worker count', 'workers: 1.5', ['workers: expected an integer >= 1, got 1.5']],
    [
      'a bad header to strip',
      'server: { stripRequestHeaders: [ok, "x y"] }',
      ['server.stripRequestHeaders[1]: expected a header field name, got "x y"'],
    ],
    [
      'maxObjectBytes above maxBytes',
      'storage: { local: { maxBytes: 1MiB, maxObjectBytes: 2MiB } }',
      [
        'storage.local.maxObjectBytes: must not exceed storage.local.maxBytes (1048576 bytes), got 2097152 bytes',
      ],
    ],
    [
      'maxObjectBytes above maxBytes in the memory store',
      'storage: { driver: memory, memory: { maxBytes: 1MiB, maxObjectBytes: 2MiB } }',
      [
        'storage.memory.maxObjectBytes: must not exceed storage.memory.maxBytes (1048576 bytes), got 2097152 bytes',
      ],
    ],
    [
      'an empty cache directory',
      'storage: { local: { path: "" } }',
      ['storage.local.path: expected a directory path, got ""'],
    ],
    [
      'PURGE enabled with nobody allowed',
      'server: { purgeMethod: { enabled: true } }',
      ['server.purgeMethod.allow: must list at least one IP or CIDR when server.purgeMethod.enabled is true'],
    ],
    [
      'a bad PURGE CIDR',
      'server: { purgeMethod: { enabled: true, allow: [10.0.0.0/8, 10.0.0.0/33] } }',
      ['server.purgeMethod.allow[1]: expected an IP address or CIDR like "10.0.0.0/8", got "10.0.0.0/33"'],
    ],
    [
      'PURGE enabled not a boolean',
      'server: { purgeMethod: { enabled: yes, allow: [10.0.0.1] } }',
      ['server.purgeMethod.enabled: expected true or false, got "yes"'],
    ],
    [
      'the PROXY protocol enabled with no sender allowed',
      'server: { proxyProtocol: { enabled: true } }',
      [
        'server.proxyProtocol.allow: must list at least one IP or CIDR when server.proxyProtocol.enabled is true',
      ],
    ],
    [
      'a bad PROXY protocol sender',
      'server: { proxyProtocol: { enabled: true, allow: [lb.internal] } }',
      ['server.proxyProtocol.allow[0]: expected an IP address or CIDR like "10.0.0.0/8", got "lb.internal"'],
    ],
    [
      'a tunnel idle timeout past what timers take',
      'server: { upgrades: { idleTimeout: 30d } }',
      ['server.upgrades.idleTimeout: expected a duration of at most 24d, got "30d"'],
    ],
    [
      'a client keep-alive timeout past what timers take',
      'server: { keepAliveTimeout: 100000d }',
      ['server.keepAliveTimeout: expected a duration of at most 24d, got "100000d"'],
    ],
    [
      'no tunnel allowed',
      'server: { upgrades: { maxTunnels: 0 } }',
      ['server.upgrades.maxTunnels: expected an integer >= 1, got 0'],
    ],
    [
      'a tag field with both separators',
      'surrogate: { spaceSeparatedFields: [x-tags], commaSeparatedFields: [cache-tag, X-Tags] }',
      [
        'surrogate.commaSeparatedFields[1]: "x-tags" is also in surrogate.spaceSeparatedFields; a field has one separator',
      ],
    ],
    ['no tags kept', 'surrogate: { maxTags: 0 }', ['surrogate.maxTags: expected an integer >= 1, got 0']],
    [
      'rate limits shared through Redis without a Redis store',
      'rateLimit: { shared: redis }',
      ['rateLimit.shared: redis needs storage.driver redis or tiered, got local'],
    ],
    [
      'an unknown way to share rate limits',
      'rateLimit: { shared: cluster }',
      ['rateLimit.shared: expected one of auto, host, redis, got "cluster"'],
    ],
    [
      'a compression level out of range',
      'compression: { levels: { br: 12, gzip: 0 } }',
      [
        'compression.levels.br: expected an integer from 0 to 11, got 12',
        'compression.levels.gzip: expected an integer from 1 to 9, got 0',
      ],
    ],
    [
      'an unknown coding, and one listed twice',
      'compression: { codings: [br, deflate, gzip, br] }',
      ['compression.codings[1]: expected one of br, zstd, gzip, got "deflate"'],
    ],
    [
      'a coding listed twice',
      'compression: { codings: [gzip, br, gzip] }',
      ['compression.codings[2]: "gzip" is listed twice'],
    ],
    [
      'a compressed type that is no media type',
      'compression: { types: [text/html, html, "*/*"] }',
      [
        'compression.types[1]: expected a media type like "text/html" or "text/*", got "html"',
        'compression.types[2]: expected a media type like "text/html" or "text/*", got "*/*"',
      ],
    ],
    [
      'headersTimeout above requestTimeout',
      'server: { headersTimeout: 2m, requestTimeout: 1m }',
      ['server.headersTimeout: must not exceed server.requestTimeout (60000ms), got 120000ms'],
    ],
  ]
  for (const [name, yaml, expected] of fileCases) {
    test(`reports ${name}`, () => {
      assert.deepEqual(problemsOf({ file: file('problem.yaml', yaml) }), expected)
    })
  }

  test('collects every problem, not just the first', () => {
    const yaml =
      'listen: "8000x"\nserver: { maxHeadrBytes: 1, backlog: -1 }\nstorage: { local: { maxBytes: lots } }\n'
    const problems = problemsOf({
      file: file('many.yaml', yaml),
      env: { EDGECACHE_WORKERS: 'zero' },
      flags: { 'log-level': 'loud' },
    })
    assert.deepEqual([...problems].sort(), [
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'EDGECACHE_WORKERS: expected an integer >= 1, got "zero"',
      'listen: expected HOST:PORT, :PORT or PORT, got "8000x"',
      'server.backlog: expected an integer >= 1, got -1',
      'server.maxHeadrBytes: unknown field',
      'storage.local.maxBytes: expected a size like "256MiB", got "lots"',
    ])
  })
})

describe('trustedProxies', () => {
  const valid = [
    '10.0.0.1',
    '10.0.0.0/8',
    '0.0.0.0/0',
    '192.168.1.0/24',
    '::1',
    '::/0',
    '2001:db8::/32',
    'fe80::1/128',
    '::ffff:10.0.0.1',
  ]
  test('accepts IPv4 and IPv6 addresses and CIDRs', () => {
    const config = loadConfig({
      env: {},
      file: file('proxies.json', JSON.stringify({ server: { trustedProxies: valid } })),
    })
    assert.deepEqual(config.server.trustedProxies, valid)
  })

  const invalid = [
    '10.0.0.0/33',
    '::1/129',
    '10.0.0',
    'localhost',
    '10.0.0.1/',
    '10.0.0.1/8/8',
    '10.0.0.0/-1',
    '256.0.0.1',
    '',
  ]
  for (const entry of invalid) {
    test(`rejects ${JSON.stringify(entry)} with its index`, () => {
      const path = file('proxies.json', JSON.stringify({ server: { trustedProxies: ['10.0.0.1', entry] } }))
      assert.deepEqual(problemsOf({ file: path }), [
        `server.trustedProxies[1]: expected an IP address or CIDR like "10.0.0.0/8", got ${JSON.stringify(entry)}`,
      ])
    })
  }
})

describe('env', () => {
  test('maps each field to EDGECACHE_<PATH>, coercing numbers and splitting lists', () => {
    const config = loadConfig({
      env: {
        EDGECACHE_LISTEN: '127.0.0.1:8001',
        EDGECACHE_ADMIN__LISTEN: '[::1]:9000',
        EDGECACHE_UPSTREAM__URL: 'https://origin.example',
        EDGECACHE_UPSTREAM__CONNECT_TIMEOUT: '1s',
        EDGECACHE_STORAGE__DRIVER: 'memory',
        EDGECACHE_STORAGE__MEMORY__MAX_BYTES: '64MiB',
        EDGECACHE_SERVER__TRUSTED_PROXIES: '10.0.0.0/8, ::1',
        EDGECACHE_SERVER__MAX_HEADER_COUNT: '50',
        EDGECACHE_CACHE__HEURISTIC_FRACTION: '0.5',
        EDGECACHE_WORKERS: '4',
        EDGECACHE_LOG__LEVEL: 'warn',
        PATH: '/usr/bin',
      },
    })
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8001 })
    assert.deepEqual(config.admin.listen, { host: '::1', port: 9000 })
    assert.equal(config.upstream.url, 'https://origin.example')
    assert.equal(config.upstream.connectTimeout, 1000)
    assert.equal(config.storage.driver === 'memory' && config.storage.memory.maxBytes, 64 * 1024 ** 2)
    assert.deepEqual(config.server.trustedProxies, ['10.0.0.0/8', '::1'])
    assert.equal(config.server.maxHeaderCount, 50)
    assert.equal(config.cache.heuristicFraction, 0.5)
    assert.equal(config.workers, 4)
    assert.equal(config.log.level, 'warn')
  })

  test('EDGECACHE_UPSTREAM is an alias of EDGECACHE_UPSTREAM__URL', () => {
    assert.equal(
      loadConfig({ env: { EDGECACHE_UPSTREAM: 'http://a.example' } }).upstream.url,
      'http://a.example',
    )
    const same = { EDGECACHE_UPSTREAM: 'http://a.example', EDGECACHE_UPSTREAM__URL: 'http://a.example' }
    assert.equal(loadConfig({ env: same }).upstream.url, 'http://a.example')
    assert.deepEqual(
      problemsOf({
        env: { EDGECACHE_UPSTREAM: 'http://a.example', EDGECACHE_UPSTREAM__URL: 'http://b.example' },
      }),
      ['EDGECACHE_UPSTREAM: conflicts with EDGECACHE_UPSTREAM__URL; set one of them'],
    )
    assert.deepEqual(problemsOf({ env: { EDGECACHE_UPSTREAM: 'localhost' } }), [
      'EDGECACHE_UPSTREAM: expected an http:// or https:// URL, got "localhost"',
    ])
  })

  test('an empty variable counts as unset, but empties a list', () => {
    const path = file('list.yaml', 'server: { trustedProxies: [10.0.0.1] }')
    const config = loadConfig({
      file: path,
      env: { EDGECACHE_WORKERS: '', EDGECACHE_SERVER__TRUSTED_PROXIES: '' },
    })
    assert.equal(config.workers, availableParallelism())
    assert.deepEqual(config.server.trustedProxies, [])
  })

  test('ignores non-EDGECACHE variables', () => {
    assert.doesNotThrow(() => loadConfig({ env: { HOME: '/root', EDGECACHEROUTES: 'x' } }))
  })

  test('routes comes from the file, then EDGECACHE_ROUTES, then --routes, kept as written', () => {
    const path = file('routes-field.yaml', 'routes: from-file.yaml\n')
    assert.equal(loadConfig({ env: {} }).routes, undefined)
    assert.equal(loadConfig({ env: {}, file: path }).routes, 'from-file.yaml')
    const env = { EDGECACHE_ROUTES: 'conf/from-env.yml' }
    assert.equal(loadConfig({ env, file: path }).routes, 'conf/from-env.yml')
    assert.equal(
      loadConfig({ env, file: path, flags: { routes: '/etc/flag.json' } }).routes,
      '/etc/flag.json',
    )
    assert.equal(loadConfig({ env: { EDGECACHE_ROUTES: '' }, file: path }).routes, 'from-file.yaml')
  })

  test('a routes value that is not a path is a problem', () => {
    assert.deepEqual(problemsOf({ file: file('routes-bad.yaml', 'routes: [a.yaml]\n') }), [
      'routes: expected a file path, got ["a.yaml"]',
    ])
  })

  test('maps true and false to a boolean field', () => {
    const on = loadConfig({
      env: {
        EDGECACHE_SERVER__PURGE_METHOD__ENABLED: 'true',
        EDGECACHE_SERVER__PURGE_METHOD__ALLOW: '127.0.0.1,::1',
        EDGECACHE_SURROGATE__STRIP_FIELDS: 'false',
      },
    })
    assert.deepEqual(on.server.purgeMethod, { enabled: true, allow: ['127.0.0.1', '::1'] })
    assert.equal(on.surrogate.stripFields, false)
    assert.deepEqual(problemsOf({ env: { EDGECACHE_SURROGATE__STRIP_FIELDS: 'yes' } }), [
      'EDGECACHE_SURROGATE__STRIP_FIELDS: expected true or false, got "yes"',
    ])
  })

  const envCases: [string, Record<string, string>, string][] = [
    [
      'a bad number',
      { EDGECACHE_WORKERS: 'zero' },
      'EDGECACHE_WORKERS: expected an integer >= 1, got "zero"',
    ],
    [
      'a number below its minimum',
      { EDGECACHE_WORKERS: '0' },
      'EDGECACHE_WORKERS: expected an integer >= 1, got 0',
    ],
    // Decimal digits only: Number() would read these as 2 and 1000.
    [
      'a hexadecimal number',
      { EDGECACHE_WORKERS: '0x2' },
      'EDGECACHE_WORKERS: expected an integer >= 1, got "0x2"',
    ],
    ['an exponent', { EDGECACHE_WORKERS: '1e3' }, 'EDGECACHE_WORKERS: expected an integer >= 1, got "1e3"'],
    [
      'a bad size',
      { EDGECACHE_STORAGE__LOCAL__MAX_BYTES: 'lots' },
      'EDGECACHE_STORAGE__LOCAL__MAX_BYTES: expected a size like "256MiB", got "lots"',
    ],
    [
      'a bad size of the memory store',
      { EDGECACHE_STORAGE__DRIVER: 'memory', EDGECACHE_STORAGE__MEMORY__MAX_BYTES: 'lots' },
      'EDGECACHE_STORAGE__MEMORY__MAX_BYTES: expected a size like "256MiB", got "lots"',
    ],
    [
      'a blank cache directory',
      { EDGECACHE_STORAGE__LOCAL__PATH: ' ' },
      'EDGECACHE_STORAGE__LOCAL__PATH: expected a directory path, got " "',
    ],
    [
      'a bad list entry',
      { EDGECACHE_SERVER__TRUSTED_PROXIES: '10.0.0.1,nope' },
      'EDGECACHE_SERVER__TRUSTED_PROXIES: expected an IP address or CIDR like "10.0.0.0/8", got "nope"',
    ],
    [
      'a bad driver',
      { EDGECACHE_STORAGE__DRIVER: 'disk' },
      'EDGECACHE_STORAGE__DRIVER: expected one of local, memory, redis, tiered, got "disk"',
    ],
  ]
  for (const [name, env, expected] of envCases) {
    test(`reports ${name} by its variable name`, () => assert.deepEqual(problemsOf({ env }), [expected]))
  }
})

describe('EDGECACHE_ variables that name no field', () => {
  const warningsOf = (env: Record<string, string>): string[] => {
    const warnings: string[] = []
    loadConfig({ env, onWarning: (w) => warnings.push(w) })
    return warnings
  }

  const typos: [string, Record<string, string>, string][] = [
    [
      'a missing underscore',
      { EDGECACHE_STORAGE__MEMORY__MAXBYTES: '1' },
      'EDGECACHE_STORAGE__MEMORY__MAXBYTES: unknown variable, ignored; did you mean EDGECACHE_STORAGE__MEMORY__MAX_BYTES?',
    ],
    [
      'a single underscore between levels',
      { EDGECACHE_UPSTREAM_URL: 'http://a' },
      'EDGECACHE_UPSTREAM_URL: unknown variable, ignored; did you mean EDGECACHE_UPSTREAM__URL?',
    ],
    ['a section name', { EDGECACHE_SERVER: 'x' }, 'EDGECACHE_SERVER: unknown variable, ignored'],
  ]
  for (const [name, env, expected] of typos) {
    test(`${name} is ignored with a warning`, () => {
      assert.deepEqual(warningsOf(env), [expected])
      // Ignored means the value changed nothing.
      assert.deepEqual(loadConfig({ env }), loadConfig({ env: {} }))
    })
  }

  test('the variables Kubernetes sets for Services named edgecache are ignored in silence', () => {
    const serviceLinks = {
      EDGECACHE_SERVICE_HOST: '10.96.0.12',
      EDGECACHE_SERVICE_PORT: '8000',
      EDGECACHE_SERVICE_PORT_HTTP: '8000',
      EDGECACHE_PORT: 'tcp://10.96.0.12:8000',
      EDGECACHE_PORT_8000_TCP: 'tcp://10.96.0.12:8000',
      EDGECACHE_PORT_8000_TCP_PROTO: 'tcp',
      EDGECACHE_PORT_8000_TCP_PORT: '8000',
      EDGECACHE_PORT_8000_TCP_ADDR: '10.96.0.12',
      EDGECACHE_ADMIN_SERVICE_HOST: '10.96.0.13',
      EDGECACHE_ADMIN_PORT_9091_TCP_ADDR: '10.96.0.13',
    }
    assert.deepEqual(warningsOf(serviceLinks), [])
    assert.deepEqual(loadConfig({ env: serviceLinks }), loadConfig({ env: {} }))
  })

  test('no warning is given for a config that does not load', () => {
    const warnings: string[] = []
    assert.throws(() =>
      loadConfig({
        env: { EDGECACHE_NOPE: '1', EDGECACHE_WORKERS: 'zero' },
        onWarning: (w) => warnings.push(w),
      }),
    )
    assert.deepEqual(warnings, [])
  })
})

describe('admin tokens', () => {
  const token = 'an-admin-token-0000001'
  const other = 'another-admin-token-02'

  test('come from admin.tokens in the file', () => {
    const path = file('tokens.yaml', `admin: { tokens: [${token}, ${other}] }`)
    assert.deepEqual(loadConfig({ env: {}, file: path }).admin.tokens, [token, other])
  })

  test('come from EDGECACHE_ADMIN_TOKEN, one or several comma-separated, over the file', () => {
    const path = file('tokens.yaml', `admin: { tokens: [${other}] }`)
    assert.deepEqual(loadConfig({ env: { EDGECACHE_ADMIN_TOKEN: token }, file: path }).admin.tokens, [token])
    assert.deepEqual(loadConfig({ env: { EDGECACHE_ADMIN_TOKEN: `${token}, ${other}` } }).admin.tokens, [
      token,
      other,
    ])
  })

  test('come from EDGECACHE_ADMIN__TOKENS; with EDGECACHE_ADMIN_TOKEN they must agree', () => {
    assert.deepEqual(loadConfig({ env: { EDGECACHE_ADMIN__TOKENS: token } }).admin.tokens, [token])
    assert.deepEqual(
      loadConfig({ env: { EDGECACHE_ADMIN__TOKENS: token, EDGECACHE_ADMIN_TOKEN: token } }).admin.tokens,
      [token],
    )
    assert.deepEqual(problemsOf({ env: { EDGECACHE_ADMIN__TOKENS: token, EDGECACHE_ADMIN_TOKEN: other } }), [
      'EDGECACHE_ADMIN_TOKEN: conflicts with EDGECACHE_ADMIN__TOKENS; set one of them',
    ])
  })

  test('an empty EDGECACHE_ADMIN_TOKEN counts as unset', () => {
    const path = file('tokens.yaml', `admin: { tokens: [${token}] }`)
    assert.deepEqual(loadConfig({ env: { EDGECACHE_ADMIN_TOKEN: '' }, file: path }).admin.tokens, [token])
  })

  test('are added from admin.tokenFile, skipping blank lines, comments and repeats', () => {
    const tokens = file('tokens.txt', `# rotated 2024-01\n${other}\r\n\n  ${token}  \n${token}\n`)
    const config = loadConfig({ env: { EDGECACHE_ADMIN_TOKEN: token, EDGECACHE_ADMIN__TOKEN_FILE: tokens } })
    assert.deepEqual(config.admin.tokens, [token, other])
    assert.equal(config.admin.tokenFile, tokens)
  })

  test('an unreadable admin.tokenFile is a problem', () => {
    const missing = join(dir, 'no-such-tokens.txt')
    const problems = problemsOf({ file: file('tf.yaml', `admin: { tokenFile: ${JSON.stringify(missing)} }`) })
    assert.equal(problems.length, 1)
    assert.match(problems[0] ?? '', /^admin\.tokenFile: cannot read .*no-such-tokens\.txt: ENOENT/)
  })

  // Every message about a token names where it is and what is wrong, never the value.
  const secretCases: [string, ConfigSources, string[]][] = [
    [
      'a short token in the file',
      { file: 'admin: { tokens: [ok-admin-token-000001, hunter2] }' } as ConfigSources,
      ['admin.tokens[1]: expected at least 16 characters, got 7 (value not shown)'],
    ],
    [
      'a token with a space',
      { file: 'admin: { tokens: ["hunter2 hunter2 hunter2"] }' } as ConfigSources,
      [
        'admin.tokens[0]: expected only the characters A-Z a-z 0-9 - . _ ~ + / and trailing = (value not shown)',
      ],
    ],
    [
      'tokens that are not a list',
      { file: 'admin: { tokens: hunter2hunter2hunter2 }' } as ConfigSources,
      ['admin.tokens: expected a list (value not shown)'],
    ],
    [
      'a token that is a number',
      { file: 'admin: { tokens: [12345678901234567890] }' } as ConfigSources,
      ['admin.tokens[0]: expected a string, got a number'],
    ],
    [
      'a short EDGECACHE_ADMIN_TOKEN',
      { env: { EDGECACHE_ADMIN_TOKEN: 'hunter2' } },
      ['EDGECACHE_ADMIN_TOKEN: expected at least 16 characters, got 7 (value not shown)'],
    ],
    [
      'a short EDGECACHE_ADMIN__TOKENS entry',
      { env: { EDGECACHE_ADMIN__TOKENS: 'ok-admin-token-000001,hunter2' } },
      ['EDGECACHE_ADMIN__TOKENS: expected at least 16 characters, got 7 (value not shown)'],
    ],
  ]
  for (const [name, sources, expected] of secretCases) {
    test(`report ${name} without the token`, () => {
      const withFile =
        sources.file === undefined ? sources : { ...sources, file: file('secret.yaml', sources.file) }
      const problems = problemsOf(withFile)
      assert.deepEqual(problems, expected)
      for (const problem of problems) {
        assert.doesNotMatch(problem, /hunter2|12345678901234567890/)
      }
    })
  }

  test('a bad line of admin.tokenFile is named by its line, not its text', () => {
    const tokens = file('bad-tokens.txt', `${token}\nhunter2\n`)
    assert.deepEqual(problemsOf({ env: { EDGECACHE_ADMIN__TOKEN_FILE: tokens } }), [
      `admin.tokenFile: ${tokens} line 2: expected at least 16 characters, got 7 (value not shown)`,
    ])
  })

  test('checkConfigFile never prints a token', () => {
    const result = checkConfigFile(
      file('check.yaml', 'admin: { tokens: [hunter2, "hunter2 hunter2 hunter2"] }'),
      {},
    )
    assert.equal(result.ok, false)
    assert.doesNotMatch(JSON.stringify(result), /hunter2/)
  })
})

describe('flags', () => {
  test('set their fields', () => {
    const config = loadConfig({
      env: {},
      flags: {
        upstream: 'http://127.0.0.1:9999',
        listen: '[::]:80',
        'admin-listen': '127.0.0.1:1',
        workers: '2',
        'log-level': 'trace',
        routes: 'routes.yaml',
        'cache-dir': '/var/cache/edgecache',
      },
    })
    assert.equal(config.routes, 'routes.yaml')
    assert.equal(config.storage.driver === 'local' && config.storage.local.path, '/var/cache/edgecache')
    assert.equal(config.upstream.url, 'http://127.0.0.1:9999')
    assert.deepEqual(config.listen, { host: '::', port: 80 })
    assert.deepEqual(config.admin.listen, { host: '127.0.0.1', port: 1 })
    assert.equal(config.workers, 2)
    assert.equal(config.log.level, 'trace')
  })

  test('a port alone, or with a colon, keeps the default host of its listener', () => {
    for (const port of ['8001', ':8001']) {
      const config = loadConfig({
        env: {},
        flags: { listen: port, 'admin-listen': port.replace('8001', '9092') },
      })
      assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8001 })
      // The admin endpoints stay on loopback unless a host is given.
      assert.deepEqual(config.admin.listen, { host: '127.0.0.1', port: 9092 })
    }
  })

  const flagCases: [string, Record<string, string>, string][] = [
    ['an unknown flag', { bogus: '1' }, '--bogus: unknown flag'],
    ['a bad worker count', { workers: 'zero' }, '--workers: expected an integer >= 1, got "zero"'],
    [
      'a bad URL',
      { upstream: 'localhost' },
      '--upstream: expected an http:// or https:// URL, got "localhost"',
    ],
    [
      'a bad listen address',
      { 'admin-listen': '8000x' },
      '--admin-listen: expected HOST:PORT, :PORT or PORT, got "8000x"',
    ],
    ['an empty cache directory', { 'cache-dir': '' }, '--cache-dir: expected a directory path, got ""'],
  ]
  for (const [name, flags, expected] of flagCases) {
    test(`report ${name} by the flag`, () => assert.deepEqual(problemsOf({ flags }), [expected]))
  }
})

describe('checkConfigFile', () => {
  test('returns the config of a good file', () => {
    const result = checkConfigFile(file('good.yaml', 'workers: 2'), {})
    assert.equal(result.ok, true)
    assert.equal(result.ok && result.config.workers, 2)
  })

  test('returns every problem of a bad file, env included', () => {
    const result = checkConfigFile(file('bad.yaml', 'workers: 0\nnope: 1\n'), { EDGECACHE_LISTEN: 'x' })
    assert.deepEqual(result, {
      ok: false,
      problems: [
        'EDGECACHE_LISTEN: expected HOST:PORT, :PORT or PORT, got "x"',
        'workers: expected an integer >= 1, got 0',
        'nope: unknown field',
      ],
    })
  })

  test('returns a read error as a problem', () => {
    const result = checkConfigFile(join(dir, 'absent.json'), {})
    assert.equal(result.ok, false)
    assert.match(
      result.ok ? '' : (result.problems[0] ?? ''),
      /^cannot read config file .*absent\.json: ENOENT/,
    )
  })

  test('ignores EDGECACHE_CONFIG in favour of its path', () => {
    const result = checkConfigFile(file('mine.yaml', 'workers: 5'), {
      EDGECACHE_CONFIG: join(dir, 'absent.yaml'),
    })
    assert.equal(result.ok && result.config.workers, 5)
  })
})
