/**
 * What `check-config` accepts, `serve` accepts: every number and duration at the lowest
 * value the schema allows builds a working app, and what the parts would refuse the schema
 * refuses first, naming the field (and never repeating a password).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createApp } from '../../src/app.ts'
import { listFields } from '../../src/config/schema.ts'
import { loadConfig } from '../../src/config/load.ts'
import { ProblemsError } from '../../src/errors.ts'

const base = { EDGECACHE_UPSTREAM: 'http://127.0.0.1:9', EDGECACHE_STORAGE__DRIVER: 'memory' }

function lowest(type: string): string | undefined {
  if (type === 'duration') return '0s'
  if (type === 'duration > 0') return '1ms'
  // A size has no lower bound in its type: zero is the value a part might refuse.
  if (type === 'size') return '0B'
  const integer = /^integer >= (\d+)$/.exec(type)
  return integer?.[1]
}

/** The config, or undefined when the schema refuses it (as check-config would). */
function loaded(env: Record<string, string>, sizeField: boolean) {
  try {
    return loadConfig({ env })
  } catch (err) {
    if (sizeField && err instanceof ProblemsError) return undefined
    throw err
  }
}

describe('a config the schema accepts is one edgecache serves', () => {
  const fields = listFields().filter(
    (field) => field.when === undefined && lowest(field.meta.type) !== undefined,
  )

  test('the schema has numbers and durations to try', () =>
    assert.ok(fields.length > 15, String(fields.length)))

  for (const field of fields) {
    const value = lowest(field.meta.type) ?? ''
    test(`${field.path.join('.')} = ${value}`, async () => {
      const config = loaded({ ...base, [field.envName]: value }, field.meta.type === 'size')
      if (config === undefined) return
      const app = await createApp(config)
      await app.close()
    })
  }
})

describe('what serve would refuse, the schema refuses first', () => {
  const problemsOf = (env: Record<string, string>): readonly string[] => {
    try {
      loadConfig({ env: { ...base, ...env } })
    } catch (err) {
      if (err instanceof ProblemsError) return err.problems
      throw err
    }
    return []
  }

  test('an upstream URL with credentials, without repeating the password', () => {
    const problems = problemsOf({ EDGECACHE_UPSTREAM: 'http://user:s3cret@127.0.0.1:9' })
    assert.equal(problems.length, 1)
    assert.match(problems[0] ?? '', /^EDGECACHE_UPSTREAM: expected a URL without user or password/)
    assert.doesNotMatch(problems.join(), /s3cret/)
  })

  test('an upstream URL with a path, which edgecache would not send', () => {
    assert.deepEqual(problemsOf({ EDGECACHE_UPSTREAM: 'http://127.0.0.1:9/base/' }), [
      'EDGECACHE_UPSTREAM: expected an origin without a path, query or fragment (edgecache forwards the request path as is), got "http://127.0.0.1:9/base/"',
    ])
  })

  for (const name of [
    'EDGECACHE_UPSTREAM__CONNECT_TIMEOUT',
    'EDGECACHE_UPSTREAM__KEEP_ALIVE_TIMEOUT',
    'EDGECACHE_SERVER__HEADERS_TIMEOUT',
  ]) {
    test(`${name} of 0s`, () => {
      assert.deepEqual(problemsOf({ [name]: '0s' }), [
        `${name}: expected a duration of at least 1ms, got "0s"`,
      ])
    })
  }
})
