import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseArgs } from '../../src/cli/args.ts'
import { renderConfigDocs } from '../../src/config/docs.ts'
import { type ConfigSources, checkConfigFile, loadConfig } from '../../src/config/load.ts'
import { listFields } from '../../src/config/schema.ts'
import { hasCode } from '../../src/errors.ts'

let dir = ''
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgecache-storage-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
/** Writes YAML `text` to a fresh file and returns its path. */
function yaml(text: string): string {
  const path = join(dir, `config-${files++}.yaml`)
  writeFileSync(path, text)
  return path
}

function problemsOf(sources: ConfigSources): readonly string[] {
  try {
    loadConfig({ env: {}, ...sources })
  } catch (err) {
    assert.ok(hasCode(err, 'EC_ERR_CONFIG_INVALID'), `unexpected error: ${String(err)}`)
    return (err as unknown as { problems: readonly string[] }).problems
  }
  assert.fail('expected loadConfig to throw')
}

const MiB = 1024 ** 2
const GiB = 1024 ** 3
const localDefaults = { path: '.edgecache', maxBytes: GiB, maxObjectBytes: 8 * MiB }
const redisDefaults = { cluster: [], keyPrefix: 'ec:', commandTimeout: 50, lockWait: 2_000, lockTtl: 10_000 }

describe('storage drivers', () => {
  test('local is the default, with its defaults', () => {
    assert.deepEqual(loadConfig({ env: {} }).storage, {
      driver: 'local',
      local: { path: '.edgecache', maxBytes: GiB, maxObjectBytes: 8 * MiB },
    })
  })

  test('memory parses with its defaults when given', () => {
    const config = loadConfig({ env: {}, file: yaml('storage: { driver: memory }') })
    assert.deepEqual(config.storage, {
      driver: 'memory',
      memory: { maxBytes: 256 * MiB, maxObjectBytes: 8 * MiB },
    })
  })

  test('every local field can be set', () => {
    const config = loadConfig({
      env: {},
      file: yaml('storage: { local: { path: /var/cache/edgecache, maxBytes: 4GiB, maxObjectBytes: 16MiB } }'),
    })
    assert.deepEqual(config.storage, {
      driver: 'local',
      local: { path: '/var/cache/edgecache', maxBytes: 4 * GiB, maxObjectBytes: 16 * MiB },
    })
  })

  test('redis parses with defaults and no memory size', () => {
    const config = loadConfig({
      env: {},
      file: yaml('storage: { driver: redis, redis: { url: "redis://127.0.0.1:6379" } }'),
    })
    assert.deepEqual(config.storage, {
      driver: 'redis',
      redis: { url: 'redis://127.0.0.1:6379', ...redisDefaults },
      memory: { maxObjectBytes: 8 * MiB },
    })
  })

  test("tiered parses with defaults: the local store's defaults as its L1", () => {
    const config = loadConfig({
      env: {},
      file: yaml('storage: { driver: tiered, redis: { url: "rediss://r:6380/2" } }'),
    })
    assert.deepEqual(config.storage, {
      driver: 'tiered',
      redis: { url: 'rediss://r:6380/2', ...redisDefaults },
      local: { path: '.edgecache', maxBytes: GiB, maxObjectBytes: 8 * MiB },
    })
  })

  test('every redis field can be set', () => {
    const config = loadConfig({
      env: {},
      file: yaml(
        'storage:\n  driver: tiered\n  redis: { cluster: ["redis://a:7000", "redis://b:7001"], keyPrefix: "site1:", commandTimeout: 200ms, lockWait: 500ms, lockTtl: 3s, password: hunter2hunter2 }\n  local: { path: /var/cache/edgecache, maxBytes: 16MiB, maxObjectBytes: 1MiB }\n',
      ),
    })
    assert.deepEqual(config.storage, {
      driver: 'tiered',
      redis: {
        cluster: ['redis://a:7000', 'redis://b:7001'],
        keyPrefix: 'site1:',
        commandTimeout: 200,
        lockWait: 500,
        lockTtl: 3_000,
        password: 'hunter2hunter2',
      },
      local: { path: '/var/cache/edgecache', maxBytes: 16 * MiB, maxObjectBytes: MiB },
    })
    assert.ok(Object.isFrozen(config.storage.driver === 'tiered' && config.storage.redis.cluster))
  })

  const cases: [string, string, string[]][] = [
    [
      'redis with neither url nor cluster',
      'storage: { driver: redis }',
      [
        'storage.redis: expected storage.redis.url, storage.redis.cluster or storage.redis.sentinel, got none',
      ],
    ],
    [
      'tiered with an empty cluster and no url',
      'storage: { driver: tiered, redis: { cluster: [] } }',
      [
        'storage.redis: expected storage.redis.url, storage.redis.cluster or storage.redis.sentinel, got none',
      ],
    ],
    [
      'both url and cluster',
      'storage: { driver: redis, redis: { url: "redis://a", cluster: ["redis://b"] } }',
      [
        'storage.redis.cluster: give only one of storage.redis.url, storage.redis.cluster and storage.redis.sentinel, got url and cluster',
      ],
    ],
    [
      'a host without a scheme',
      'storage: { driver: redis, redis: { url: localhost } }',
      ['storage.redis.url: expected redis:// or rediss:// URL, got "localhost"'],
    ],
    [
      'an http URL',
      'storage: { driver: tiered, redis: { url: "http://127.0.0.1:6379" } }',
      ['storage.redis.url: expected redis:// or rediss:// URL, got "http://127.0.0.1:6379"'],
    ],
    [
      'a bad cluster seed, by its index',
      'storage: { driver: redis, redis: { cluster: ["redis://a:7000", "b:7001"] } }',
      ['storage.redis.cluster[1]: expected redis:// or rediss:// URL, got "b:7001"'],
    ],
    [
      'a bad URL holding a password, without the password',
      'storage: { driver: redis, redis: { url: "http://user:s3cret@host" } }',
      ['storage.redis.url: expected redis:// or rediss:// URL, got "http://user:***@host/"'],
    ],
    [
      'a zero command timeout',
      'storage: { driver: redis, redis: { url: "redis://a", commandTimeout: 0s } }',
      ['storage.redis.commandTimeout: expected more than 0ms, got 0ms'],
    ],
    [
      'a zero lock TTL',
      'storage: { driver: tiered, redis: { url: "redis://a", lockTtl: 0s } }',
      ['storage.redis.lockTtl: expected more than 0ms, got 0ms'],
    ],
    [
      'a lock wait longer than the lock lasts',
      'storage: { driver: redis, redis: { url: "redis://a", lockWait: 5s, lockTtl: 2s } }',
      ['storage.redis.lockWait: must not exceed storage.redis.lockTtl (2000ms), got 5000ms'],
    ],
    [
      'a lock wait that is not a duration',
      'storage: { driver: redis, redis: { url: "redis://a", lockWait: 2 } }',
      ['storage.redis.lockWait: expected a duration like "30s", got 2'],
    ],
    [
      'a key prefix with a hash-tag brace',
      'storage: { driver: redis, redis: { url: "redis://a", keyPrefix: "{ec}" } }',
      ['storage.redis.keyPrefix: expected up to 64 printable characters without spaces, { or }, got "{ec}"'],
    ],
    [
      'a redis block under driver memory',
      'storage: { driver: memory, redis: { url: "redis://a" } }',
      ['storage.redis: unknown field (used only with driver: redis | tiered)'],
    ],
    [
      'a redis block with the driver left out (local)',
      'storage: { redis: { url: "redis://a" } }',
      ['storage.redis: unknown field (used only with driver: redis | tiered)'],
    ],
    [
      'a memory size under driver redis',
      'storage: { driver: redis, redis: { url: "redis://a" }, memory: { maxBytes: 1MiB } }',
      ['storage.memory.maxBytes: unknown field (used only with driver: memory)'],
    ],
    [
      'a memory block with the driver left out (local)',
      'storage: { memory: { maxBytes: 64MiB } }',
      ['storage.memory: unknown field (used only with driver: memory)'],
    ],
    [
      'a memory block under driver tiered, whose L1 is the local block',
      'storage: { driver: tiered, redis: { url: "redis://a" }, memory: { maxBytes: 64MiB } }',
      ['storage.memory: unknown field (used only with driver: memory)'],
    ],
    [
      'a local block under driver memory',
      'storage: { driver: memory, local: { path: /var/cache/edgecache } }',
      ['storage.local: unknown field (used only with driver: local | tiered)'],
    ],
    [
      'a local block under driver redis',
      'storage: { driver: redis, redis: { url: "redis://a" }, local: { maxBytes: 1GiB } }',
      ['storage.local: unknown field (used only with driver: local | tiered)'],
    ],
    [
      'an unknown key in the redis block',
      'storage: { driver: tiered, redis: { url: "redis://a", db: 2 } }',
      ['storage.redis.db: unknown field'],
    ],
    [
      'an unknown key in the tiered local block',
      'storage: { driver: tiered, redis: { url: "redis://a" }, local: { max: 1 } }',
      ['storage.local.max: unknown field'],
    ],
    [
      'an unknown key beside the driver',
      'storage: { driver: redis, redis: { url: "redis://a" }, disk: {} }',
      ['storage.disk: unknown field'],
    ],
    [
      'an L1 smaller than the largest object',
      'storage: { driver: tiered, redis: { url: "redis://a" }, local: { maxBytes: 1MiB, maxObjectBytes: 2MiB } }',
      [
        'storage.local.maxObjectBytes: must not exceed storage.local.maxBytes (1048576 bytes), got 2097152 bytes',
      ],
    ],
    [
      'a local store smaller than the largest object',
      'storage: { local: { maxBytes: 1MiB, maxObjectBytes: 2MiB } }',
      [
        'storage.local.maxObjectBytes: must not exceed storage.local.maxBytes (1048576 bytes), got 2097152 bytes',
      ],
    ],
    [
      'a memory store smaller than the largest object',
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
      'a blank cache directory under driver tiered',
      'storage: { driver: tiered, redis: { url: "redis://a" }, local: { path: "  " } }',
      ['storage.local.path: expected a directory path, got "  "'],
    ],
    [
      'a cache directory that is not text',
      'storage: { local: { path: [a, b] } }',
      ['storage.local.path: expected a directory path, got ["a","b"]'],
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(`reports ${name}`, () => assert.deepEqual(problemsOf({ file: yaml(text) }), expected))
  }
})

describe('storage from env', () => {
  test('selects the driver and the connection', () => {
    const config = loadConfig({
      env: {
        EDGECACHE_STORAGE__DRIVER: 'tiered',
        EDGECACHE_STORAGE__REDIS__CLUSTER: 'redis://a:7000, redis://b:7001',
        EDGECACHE_STORAGE__REDIS__KEY_PREFIX: 'x:',
        EDGECACHE_STORAGE__REDIS__COMMAND_TIMEOUT: '75ms',
        EDGECACHE_STORAGE__REDIS__LOCK_WAIT: '0s',
        EDGECACHE_STORAGE__REDIS__PASSWORD: 'pw-from-env',
        EDGECACHE_STORAGE__LOCAL__PATH: '/var/cache/edgecache',
        EDGECACHE_STORAGE__LOCAL__MAX_BYTES: '32MiB',
      },
    })
    assert.deepEqual(config.storage, {
      driver: 'tiered',
      redis: {
        cluster: ['redis://a:7000', 'redis://b:7001'],
        keyPrefix: 'x:',
        commandTimeout: 75,
        lockWait: 0,
        lockTtl: 10_000,
        password: 'pw-from-env',
      },
      local: { path: '/var/cache/edgecache', maxBytes: 32 * MiB, maxObjectBytes: 8 * MiB },
    })
  })

  test('EDGECACHE_STORAGE__LOCAL__PATH sets the cache directory, over the file; empty counts as unset', () => {
    const path = yaml('storage: { local: { path: /from/file, maxBytes: 2GiB } }')
    assert.deepEqual(loadConfig({ env: { EDGECACHE_STORAGE__LOCAL__PATH: '/from/env' } }).storage, {
      driver: 'local',
      local: { ...localDefaults, path: '/from/env' },
    })
    assert.deepEqual(
      loadConfig({ env: { EDGECACHE_STORAGE__LOCAL__PATH: '/from/env' }, file: path }).storage,
      {
        driver: 'local',
        local: { ...localDefaults, path: '/from/env', maxBytes: 2 * GiB },
      },
    )
    assert.deepEqual(loadConfig({ env: { EDGECACHE_STORAGE__LOCAL__PATH: '' }, file: path }).storage, {
      driver: 'local',
      local: { ...localDefaults, path: '/from/file', maxBytes: 2 * GiB },
    })
    assert.deepEqual(problemsOf({ env: { EDGECACHE_STORAGE__LOCAL__PATH: ' ' } }), [
      'EDGECACHE_STORAGE__LOCAL__PATH: expected a directory path, got " "',
    ])
  })

  test('EDGECACHE_STORAGE__REDIS__URL over the file', () => {
    const config = loadConfig({
      env: { EDGECACHE_STORAGE__REDIS__URL: 'redis://env:6379' },
      file: yaml('storage: { driver: redis, redis: { url: "redis://file:6379" } }'),
    })
    assert.equal(config.storage.driver === 'redis' && config.storage.redis.url, 'redis://env:6379')
  })

  test('bad values are reported by the variable', () => {
    assert.deepEqual(
      problemsOf({ env: { EDGECACHE_STORAGE__DRIVER: 'redis', EDGECACHE_STORAGE__REDIS__URL: 'localhost' } }),
      ['EDGECACHE_STORAGE__REDIS__URL: expected redis:// or rediss:// URL, got "localhost"'],
    )
  })

  test('a password is never repeated in a message', () => {
    const path = yaml('storage: { driver: redis, redis: { url: "redis://a", password: ["hunter2hunter2"] } }')
    const result = checkConfigFile(path, {})
    assert.equal(result.ok, false)
    const text = result.ok ? '' : result.problems.join('\n')
    assert.match(text, /^storage\.redis\.password: expected a non-empty string, got a list/)
    assert.doesNotMatch(text, /hunter2/)
    // An empty variable counts as unset.
    const config = loadConfig({
      env: {
        EDGECACHE_STORAGE__DRIVER: 'redis',
        EDGECACHE_STORAGE__REDIS__URL: 'redis://a',
        EDGECACHE_STORAGE__REDIS__PASSWORD: '',
      },
    })
    assert.equal(config.storage.driver === 'redis' && config.storage.redis.password, undefined)
  })
})

describe('storage from flags', () => {
  test('--store and one --redis-url set driver and url', () => {
    const { flags } = parseArgs(['--store', 'redis', '--redis-url', 'redis://127.0.0.1:6379'])
    const config = loadConfig({ env: {}, flags })
    assert.deepEqual(config.storage, {
      driver: 'redis',
      redis: { url: 'redis://127.0.0.1:6379', ...redisDefaults },
      memory: { maxObjectBytes: 8 * MiB },
    })
  })

  test('--cache-dir sets storage.local.path, over the env and the file', () => {
    const { flags } = parseArgs(['--cache-dir', '/var/cache/edgecache'])
    assert.deepEqual(flags, { 'cache-dir': '/var/cache/edgecache' })
    assert.deepEqual(loadConfig({ env: {}, flags }).storage, {
      driver: 'local',
      local: { ...localDefaults, path: '/var/cache/edgecache' },
    })
    const config = loadConfig({
      env: { EDGECACHE_STORAGE__LOCAL__PATH: '/from/env' },
      flags,
      file: yaml('storage: { local: { path: /from/file, maxObjectBytes: 1MiB } }'),
    })
    assert.deepEqual(config.storage, {
      driver: 'local',
      local: { ...localDefaults, path: '/var/cache/edgecache', maxObjectBytes: MiB },
    })
  })

  test('--cache-dir with --store tiered sets the L1 directory', () => {
    const { flags } = parseArgs([
      '--store',
      'tiered',
      '--redis-url',
      'redis://127.0.0.1:6379',
      '--cache-dir=/var/cache/edgecache',
    ])
    assert.deepEqual(loadConfig({ env: {}, flags }).storage, {
      driver: 'tiered',
      redis: { url: 'redis://127.0.0.1:6379', ...redisDefaults },
      local: { ...localDefaults, path: '/var/cache/edgecache' },
    })
  })

  test('--redis-url twice sets the cluster seeds, over a url from the file', () => {
    const { flags } = parseArgs([
      '--store',
      'tiered',
      '--redis-url',
      'redis://a:7000',
      '--redis-url',
      'redis://b:7001',
    ])
    assert.deepEqual(flags, { store: 'tiered', 'redis-url': ['redis://a:7000', 'redis://b:7001'] })
    const config = loadConfig({ env: {}, flags, file: yaml('storage: { redis: { url: "redis://file" } }') })
    assert.equal(config.storage.driver, 'tiered')
    assert.deepEqual(config.storage.driver === 'tiered' && config.storage.redis, {
      url: undefined,
      ...redisDefaults,
      cluster: ['redis://a:7000', 'redis://b:7001'],
    })
  })

  test('one --redis-url replaces cluster seeds from the file', () => {
    const config = loadConfig({
      env: {},
      flags: { 'redis-url': ['redis://one'] },
      file: yaml('storage: { driver: redis, redis: { cluster: ["redis://a", "redis://b"] } }'),
    })
    assert.deepEqual(config.storage.driver === 'redis' && config.storage.redis.cluster, [])
    assert.equal(config.storage.driver === 'redis' && config.storage.redis.url, 'redis://one')
  })

  test('bad values are reported by the flag', () => {
    assert.deepEqual(problemsOf({ flags: { store: 'disk' } }), [
      '--store: expected one of local, memory, redis, tiered, got "disk"',
    ])
    assert.deepEqual(problemsOf({ flags: { 'cache-dir': '' } }), [
      '--cache-dir: expected a directory path, got ""',
    ])
    assert.deepEqual(problemsOf({ flags: { store: 'redis', 'redis-url': ['localhost'] } }), [
      '--redis-url: expected redis:// or rediss:// URL, got "localhost"',
    ])
    assert.deepEqual(problemsOf({ flags: { store: 'redis', 'redis-url': ['redis://a', 'b'] } }), [
      '--redis-url: expected redis:// or rediss:// URL, got "b"',
    ])
  })

  test('are flags of serve and demo only', () => {
    assert.deepEqual(parseArgs(['demo', '--store', 'memory']).flags, { store: 'memory' })
    assert.deepEqual(parseArgs(['demo', '--cache-dir', 'demo-cache']).flags, { 'cache-dir': 'demo-cache' })
    assert.throws(
      () => parseArgs(['check-config', '--redis-url', 'redis://a']),
      /--redis-url: not a flag of check-config/,
    )
    assert.throws(
      () => parseArgs(['check-config', 'a.yaml', '--cache-dir', 'dir']),
      /--cache-dir: not a flag of check-config/,
    )
  })
})

describe('storage docs', () => {
  test('each field is listed once, saying which drivers use it', () => {
    const fields = listFields().filter((field) => field.path[0] === 'storage')
    const rows = fields.map((field) => [field.path.join('.'), field.when ?? 'all'])
    assert.deepEqual(rows, [
      ['storage.driver', 'all'],
      ['storage.local.path', 'driver: local | tiered'],
      ['storage.local.maxBytes', 'driver: local | tiered'],
      ['storage.local.maxObjectBytes', 'driver: local | tiered'],
      ['storage.memory.maxBytes', 'driver: memory'],
      ['storage.memory.maxObjectBytes', 'driver: memory | redis'],
      ['storage.redis.url', 'driver: redis | tiered'],
      ['storage.redis.cluster', 'driver: redis | tiered'],
      ['storage.redis.sentinel.name', 'driver: redis | tiered'],
      ['storage.redis.sentinel.sentinels', 'driver: redis | tiered'],
      ['storage.redis.keyPrefix', 'driver: redis | tiered'],
      ['storage.redis.commandTimeout', 'driver: redis | tiered'],
      ['storage.redis.lockWait', 'driver: redis | tiered'],
      ['storage.redis.lockTtl', 'driver: redis | tiered'],
      ['storage.redis.username', 'driver: redis | tiered'],
      ['storage.redis.password', 'driver: redis | tiered'],
      ['storage.redis.tls.ca', 'driver: redis | tiered'],
      ['storage.redis.tls.cert', 'driver: redis | tiered'],
      ['storage.redis.tls.key', 'driver: redis | tiered'],
    ])
    const docs = renderConfigDocs()
    assert.match(
      docs,
      /\| `storage\.local\.path` \| path \| `\.edgecache` \| `EDGECACHE_STORAGE__LOCAL__PATH` \| `--cache-dir` \|/,
    )
    assert.match(docs, /\| `storage\.local\.maxBytes` \| size \| `1GiB` \|/)
    assert.match(docs, /\| `storage\.local\.maxObjectBytes` \| size \| `8MiB` \|/)
    assert.match(docs, /\| `storage\.memory\.maxBytes` \| size \| `256MiB` \|/)
    assert.match(docs, /\| `storage\.redis\.password` \|[^\n]*\*secret\*/)
    assert.match(
      docs,
      /\| `storage\.driver` \| local \\\| memory \\\| redis \\\| tiered \| `local` \| `EDGECACHE_STORAGE__DRIVER` \| `--store` \|/,
    )
  })
})

describe('redis topologies, credentials and TLS in config', () => {
  test('sentinel parses, with a user for the data nodes', () => {
    const config = loadConfig({
      env: {},
      file: yaml(
        'storage:\n  driver: redis\n  redis:\n    sentinel: { name: mymaster, sentinels: ["redis://s1:26379", "redis://s2:26379"] }\n    username: edge\n',
      ),
    })
    assert.deepEqual(config.storage.driver === 'redis' && config.storage.redis, {
      sentinel: { name: 'mymaster', sentinels: ['redis://s1:26379', 'redis://s2:26379'] },
      username: 'edge',
      ...redisDefaults,
    })
  })

  test('sentinel, username and TLS files from env', () => {
    const ca = join(dir, 'ca.pem')
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    const config = loadConfig({
      env: {
        EDGECACHE_STORAGE__DRIVER: 'tiered',
        EDGECACHE_STORAGE__REDIS__SENTINEL__NAME: 'mymaster',
        EDGECACHE_STORAGE__REDIS__SENTINEL__SENTINELS: 'rediss://s1:26379,rediss://s2:26379',
        EDGECACHE_STORAGE__REDIS__USERNAME: 'edge',
        EDGECACHE_STORAGE__REDIS__TLS__CA: ca,
      },
    })
    assert.deepEqual(config.storage.driver === 'tiered' && config.storage.redis, {
      sentinel: { name: 'mymaster', sentinels: ['rediss://s1:26379', 'rediss://s2:26379'] },
      username: 'edge',
      tls: { ca },
      ...redisDefaults,
    })
  })

  test('--redis-sentinel (repeated) and --redis-sentinel-name replace a url from the file', () => {
    const { flags } = parseArgs([
      '--store',
      'redis',
      '--redis-sentinel',
      'redis://s1:26379',
      '--redis-sentinel',
      'redis://s2:26379',
      '--redis-sentinel-name',
      'mymaster',
    ])
    const config = loadConfig({ env: {}, flags, file: yaml('storage: { redis: { url: "redis://file" } }') })
    assert.deepEqual(config.storage.driver === 'redis' && config.storage.redis, {
      url: undefined,
      sentinel: { name: 'mymaster', sentinels: ['redis://s1:26379', 'redis://s2:26379'] },
      ...redisDefaults,
    })
  })

  test('--redis-url replaces a sentinel from the file', () => {
    const config = loadConfig({
      env: {},
      flags: { 'redis-url': ['redis://one'] },
      file: yaml(
        'storage: { driver: redis, redis: { sentinel: { name: m, sentinels: ["redis://s:26379"] } } }',
      ),
    })
    assert.equal(config.storage.driver === 'redis' && config.storage.redis.url, 'redis://one')
    assert.equal(config.storage.driver === 'redis' && config.storage.redis.sentinel, undefined)
  })

  test('contradicting topology flags are reported by the flag', () => {
    assert.deepEqual(
      problemsOf({
        flags: { store: 'redis', 'redis-url': ['redis://a'], 'redis-sentinel': ['redis://s:26379'] },
      }),
      ['--redis-sentinel: give --redis-url or --redis-sentinel, not both'],
    )
    assert.deepEqual(
      problemsOf({ flags: { store: 'redis', 'redis-url': ['redis://a'], 'redis-sentinel-name': 'm' } }),
      ['--redis-sentinel-name: not with --redis-url, which replaces any sentinel'],
    )
    assert.deepEqual(problemsOf({ flags: { store: 'redis', 'redis-sentinel': ['s1:26379'] } }), [
      '--redis-sentinel: expected redis:// or rediss:// URL, got "s1:26379"',
    ])
  })

  const cases: [string, string, string[]][] = [
    [
      'a url and a sentinel',
      'storage: { driver: redis, redis: { url: "redis://a", sentinel: { name: m, sentinels: ["redis://s"] } } }',
      [
        'storage.redis.sentinel: give only one of storage.redis.url, storage.redis.cluster and storage.redis.sentinel, got url and sentinel',
      ],
    ],
    [
      'a sentinel without a name or sentinels',
      'storage: { driver: redis, redis: { sentinel: {} } }',
      [
        'storage.redis.sentinel.name: expected the master name the sentinels monitor, got nothing',
        'storage.redis.sentinel.sentinels: expected at least one sentinel URL, got none',
      ],
    ],
    [
      'a master name with a space',
      'storage: { driver: redis, redis: { sentinel: { name: "my master", sentinels: ["redis://s"] } } }',
      [
        'storage.redis.sentinel.name: expected a name of printable characters without spaces, got "my master"',
      ],
    ],
    [
      'an unknown key in the sentinel block',
      'storage: { driver: redis, redis: { sentinel: { name: m, sentinels: ["redis://s"], quorum: 2 } } }',
      ['storage.redis.sentinel.quorum: unknown field'],
    ],
    [
      'sentinels of mixed schemes',
      'storage: { driver: redis, redis: { sentinel: { name: m, sentinels: ["rediss://s1", "redis://s2"] } } }',
      [
        'storage.redis.sentinel.sentinels[1]: expected rediss:// like the first URL (TLS is for every node or none), got redis://',
      ],
    ],
    [
      'cluster seeds of mixed schemes',
      'storage: { driver: redis, redis: { cluster: ["redis://a", "rediss://b"] } }',
      [
        'storage.redis.cluster[1]: expected redis:// like the first URL (TLS is for every node or none), got rediss://',
      ],
    ],
    [
      'TLS files with a redis:// URL',
      'storage: { driver: redis, redis: { url: "redis://a", tls: { ca: /nonexistent/ca.pem } } }',
      ['storage.redis.tls: is used only with rediss:// URLs, and the Redis URLs here are redis://'],
    ],
    [
      'a client certificate without its key',
      'storage: { driver: redis, redis: { url: "rediss://a", tls: { cert: /x/cert.pem } } }',
      [
        'storage.redis.tls.key: expected storage.redis.tls.cert and storage.redis.tls.key together, got one of them',
      ],
    ],
    [
      'an unknown key in the tls block',
      'storage: { driver: redis, redis: { url: "rediss://a", tls: { insecure: true } } }',
      ['storage.redis.tls.insecure: unknown field'],
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(`reports ${name}`, () => assert.deepEqual(problemsOf({ file: yaml(text) }), expected))
  }

  test('reports a TLS file that cannot be read or is not PEM, by its field', () => {
    const notPem = join(dir, 'not-pem.txt')
    writeFileSync(notPem, 'hello')
    const missing = join(dir, 'missing.pem')
    const problems = problemsOf({
      file: yaml(
        `storage: { driver: redis, redis: { url: "rediss://a", tls: { ca: "${missing}", cert: "${notPem}", key: "${notPem}" } } }`,
      ),
    })
    assert.equal(problems.length, 3)
    assert.match(problems[0] ?? '', /^storage\.redis\.tls\.ca: cannot read .*missing\.pem: ENOENT/)
    assert.equal(problems[1], `storage.redis.tls.cert: expected a PEM file (-----BEGIN ...), got ${notPem}`)
    assert.equal(problems[2], `storage.redis.tls.key: expected a PEM file (-----BEGIN ...), got ${notPem}`)
  })
})
