/**
 * Expected failures log without a stack, and repeats of a warning are held back and
 * counted, through the real logger writing JSON lines.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { EdgecacheError } from '../../src/errors.ts'
import { createRepeatLimiter, serializeError } from '../../src/observability/log-limits.ts'
import { createLogger } from '../../src/observability/logger.ts'

function capture() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, logger: createLogger({ level: 'info', destination }) }
}

describe('error serialization', () => {
  test('an EdgecacheError a client is answered with has its message and code, and no stack', () => {
    const err = new EdgecacheError('EC_ERR_UPSTREAM_CONNECT', [], {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
    })
    const out = serializeError(err) as Record<string, unknown>
    assert.equal(out.code, 'EC_ERR_UPSTREAM_CONNECT')
    assert.match(String(out.message), /backend unreachable: connect ECONNREFUSED/)
    assert.equal(out.stack, undefined)
  })

  test('a network failure has no stack', () => {
    const out = serializeError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
    assert.equal((out as { stack?: unknown }).stack, undefined)
  })

  test('an unexpected error keeps its stack', () => {
    const out = serializeError(new TypeError('x is undefined')) as Record<string, unknown>
    assert.match(String(out.stack), /TypeError: x is undefined\n\s+at /)
    const internal = serializeError(new EdgecacheError('EC_ERR_INTERNAL')) as Record<string, unknown>
    assert.equal(typeof internal.stack, 'string')
  })
})

describe('repeated warnings', () => {
  test('the first of a kind is written, repeats within the window are counted into the next one after it', () => {
    let now = 0
    const admit = createRepeatLimiter(10_000, () => now)
    assert.equal(admit('a'), 0)
    assert.equal(admit('a'), undefined)
    assert.equal(admit('a'), undefined)
    assert.equal(admit('b'), 0, 'another kind is not held back')
    now = 10_000
    assert.equal(admit('a'), 2)
    assert.equal(admit('a'), undefined)
  })

  test('through the logger: 100 identical warnings make one line; info lines are never held back', async () => {
    const { lines, logger } = capture()
    const err = new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['redis down'])
    for (let i = 0; i < 100; i++) logger.warn({ err }, 'cache store get failed, serving as miss')
    for (let i = 0; i < 5; i++) logger.info({ i }, 'request')
    logger.warn({ err: new EdgecacheError('EC_ERR_UPSTREAM_CONNECT') }, 'request failed')
    logger.flush()
    await new Promise((resolve) => setImmediate(resolve))
    const warnings = lines.filter((line) => line.level === 'warn')
    assert.deepEqual(
      warnings.map((line) => line.msg),
      ['cache store get failed, serving as miss', 'request failed'],
    )
    assert.equal(lines.filter((line) => line.msg === 'request').length, 5)
    assert.equal((warnings[0]?.err as { stack?: unknown } | undefined)?.stack, undefined)
    assert.ok(warnings[0]?.err)
  })

  test('a file rejected for other problems is written, the same rejection again is held back', async () => {
    const { lines, logger } = capture()
    const rejected = 'route file rejected, keeping the routes in force'
    logger.error({ problems: ['routes[0] (api).ttl: a bypass route has no ttl'] }, rejected)
    logger.error({ problems: ['routes[0] (api).ttl: a bypass route has no ttl'] }, rejected)
    logger.error({ problems: ['routes[0] (api).match.pathPrefix: must start with /'] }, rejected)
    logger.flush()
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(
      lines.filter((line) => line.msg === rejected).map((line) => line.problems),
      [
        ['routes[0] (api).ttl: a bypass route has no ttl'],
        ['routes[0] (api).match.pathPrefix: must start with /'],
      ],
    )
  })
})
