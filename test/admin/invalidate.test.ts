/**
 * POST /invalidate on a real admin listener (port 0): auth, body validation, limits, the
 * answer's shape, storage failures, and that no token ever reaches a log line.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { after, before, beforeEach, describe, test } from 'node:test'
import { parseInvalidation } from '../../src/admin/invalidate.ts'
import { EdgecacheError } from '../../src/errors.ts'
import { cliUserAgent } from '../../src/surrogate/invalidator.ts'
import { closeClient, type Reply, send } from '../support/client.ts'
import { startAdmin, type TestAdmin } from './admin-harness.ts'

const TOKENS = ['first-admin-token-0001', 'second-admin-token-002', 'third+admin/token_03==']
const [TOKEN = '', SECOND = '', THIRD = ''] = TOKENS

let admin: TestAdmin
before(async () => {
  admin = await startAdmin(TOKENS)
})
beforeEach(() => {
  admin.invalidator.calls.length = 0
  admin.invalidator.next = { purged: 0 }
})
after(async () => {
  // Every request of this file is done: no line may hold any token, right or wrong.
  for (const secret of [...TOKENS, 'wrong-token-but-long-enough']) {
    assert.ok(
      admin.logLines.every((line) => !line.includes(secret)),
      'a token appeared in the log',
    )
  }
  await admin.close()
  await closeClient()
})

function invalidate(
  body: unknown,
  options: { token?: string | null; headers?: Record<string, string>; method?: string } = {},
): Promise<Reply> {
  const token = options.token === undefined ? TOKEN : options.token
  return send(`${admin.url}/invalidate`, {
    method: options.method ?? 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...options.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function json(reply: Reply): Record<string, unknown> {
  assert.match(reply.header('content-type') ?? '', /^application\/json/)
  return JSON.parse(reply.text) as Record<string, unknown>
}

describe('a valid request', () => {
  test('purges by tags and answers purged, soft, dryRun and tookMs', async () => {
    admin.invalidator.next = { purged: 12 }
    const reply = await invalidate({ tags: ['product:42', 'home'] })
    assert.equal(reply.status, 200)
    assert.equal(reply.header('cache-control'), 'no-store')
    assert.deepEqual(json(reply), { purged: 12, soft: false, dryRun: false, tookMs: 3 })
    assert.deepEqual(admin.invalidator.calls, [
      { tags: ['product:42', 'home'], soft: false, dryRun: false, source: 'admin' },
    ])
  })

  test('names the CLI as the source when edgecache purge calls, the admin API otherwise', async () => {
    await invalidate({ tags: ['a'] }, { headers: { 'user-agent': cliUserAgent } })
    await invalidate({ tags: ['a'] }, { headers: { 'user-agent': `${cliUserAgent}/1.0` } })
    await invalidate({ tags: ['a'] }, { headers: { 'user-agent': 'curl/8.5.0' } })
    await invalidate({ tags: ['a'] }, { headers: { 'user-agent': `not-${cliUserAgent}` } })
    assert.deepEqual(
      admin.invalidator.calls.map((c) => c.source),
      ['cli', 'cli', 'admin', 'admin'],
    )
  })

  const passes: [string, unknown, object][] = [
    ['soft', { tags: ['news'], soft: true }, { tags: ['news'], soft: true, dryRun: false }],
    ['dryRun', { tags: ['news'], dryRun: true }, { tags: ['news'], soft: false, dryRun: true }],
    [
      'urls',
      { urls: ['https://shop.example/p/42', 'http://shop.example/p/43?x=1'] },
      { urls: ['https://shop.example/p/42', 'http://shop.example/p/43?x=1'], soft: false, dryRun: false },
    ],
    [
      'prefixes',
      { prefixes: ['https://shop.example/p/'], soft: true, dryRun: true },
      { prefixes: ['https://shop.example/p/'], soft: true, dryRun: true },
    ],
    ['all', { all: true }, { all: true, soft: false, dryRun: false }],
    [
      'every kind but all at once, an empty list left out, duplicates once',
      { tags: ['a', 'a'], urls: [], prefixes: ['https://x.example/'] },
      { tags: ['a'], prefixes: ['https://x.example/'], soft: false, dryRun: false },
    ],
  ]
  for (const [name, body, expected] of passes) {
    test(`passes ${name} through to the invalidator`, async () => {
      const reply = await invalidate(body)
      assert.equal(reply.status, 200, reply.text)
      assert.deepEqual(admin.invalidator.calls, [{ ...expected, source: 'admin' }])
      const answer = json(reply)
      assert.equal(answer.soft, (expected as { soft: boolean }).soft)
      assert.equal(answer.dryRun, (expected as { dryRun: boolean }).dryRun)
    })
  }

  test('accepts application/json with parameters, +json types and no Content-Type', async () => {
    for (const type of ['application/json; charset=utf-8', 'application/merge-patch+json', undefined]) {
      const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type }
      const reply = await send(`${admin.url}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, ...headers },
        body: '{"tags":["a"]}',
      })
      assert.equal(reply.status, 200, `${type}: ${reply.text}`)
    }
  })

  test('logs what was purged at info, with the count', async () => {
    admin.invalidator.next = { purged: 7 }
    await invalidate({ tags: ['logged-tag'], urls: ['https://a.example/x'], soft: true })
    const line = admin.logs().findLast((entry) => entry.msg === 'invalidated')
    assert.ok(line, 'a purge line is logged')
    assert.equal(line.level, 'info')
    assert.equal(line.purged, 7)
    assert.deepEqual(line.invalidation, {
      tags: ['logged-tag'],
      urls: ['https://a.example/x'],
      soft: true,
      dryRun: false,
    })
  })

  test('logs at most 20 entries of a long list, and its full count', async () => {
    const tags = Array.from({ length: 50 }, (_, i) => `bulk-${i}`)
    await invalidate({ tags })
    const line = admin.logs().findLast((entry) => entry.msg === 'invalidated')
    const logged = line?.invalidation as { tags: string[]; tagsCount: number }
    assert.equal(logged.tags.length, 20)
    assert.equal(logged.tagsCount, 50)
  })
})

describe('authentication', () => {
  test('accepts each configured token, and the scheme in any case', async () => {
    for (const token of [TOKEN, SECOND, THIRD]) {
      assert.equal((await invalidate({ tags: ['a'] }, { token })).status, 200, token)
    }
    const lower = await invalidate(
      { tags: ['a'] },
      { token: null, headers: { authorization: `bearer ${SECOND}` } },
    )
    assert.equal(lower.status, 200)
    assert.equal(admin.invalidator.calls.length, 4)
  })

  const refused: [string, Record<string, string>, string, string][] = [
    ['no Authorization', {}, 'EC_ERR_ADMIN_TOKEN_MISSING', 'Bearer realm="edgecache-admin"'],
    [
      'another scheme',
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      'EC_ERR_ADMIN_TOKEN_MISSING',
      'Bearer realm="edgecache-admin"',
    ],
    [
      'an empty bearer',
      { authorization: 'Bearer ' },
      'EC_ERR_ADMIN_TOKEN_MISSING',
      'Bearer realm="edgecache-admin"',
    ],
    [
      'a wrong token',
      { authorization: 'Bearer wrong-token-but-long-enough' },
      'EC_ERR_ADMIN_TOKEN_INVALID',
      'Bearer realm="edgecache-admin", error="invalid_token"',
    ],
    [
      'a configured token cut short',
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      'EC_ERR_ADMIN_TOKEN_INVALID',
      'Bearer realm="edgecache-admin", error="invalid_token"',
    ],
    [
      'a configured token with more after it',
      { authorization: `Bearer ${TOKEN}x` },
      'EC_ERR_ADMIN_TOKEN_INVALID',
      'Bearer realm="edgecache-admin", error="invalid_token"',
    ],
    [
      'two tokens joined',
      { authorization: `Bearer ${TOKEN}${SECOND}` },
      'EC_ERR_ADMIN_TOKEN_INVALID',
      'Bearer realm="edgecache-admin", error="invalid_token"',
    ],
  ]
  for (const [name, headers, code, challenge] of refused) {
    test(`refuses ${name} with 401 and a Bearer challenge`, async () => {
      const reply = await invalidate({ tags: ['a'] }, { token: null, headers })
      assert.equal(reply.status, 401)
      assert.equal(reply.header('www-authenticate'), challenge)
      assert.equal(json(reply).code, code)
      assert.equal(admin.invalidator.calls.length, 0)
    })
  }

  test('checks the token before reading the body', async () => {
    const reply = await invalidate('{not json', { token: null })
    assert.equal(reply.status, 401)
  })

  test('logs a refusal without the token', async () => {
    // An admin of its own: repeats of one warning are held back, and others came before.
    const fresh = await startAdmin([TOKEN])
    try {
      const wrong = 'wrong-token-but-long-enough'
      await send(`${fresh.url}/invalidate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${wrong}` },
        body: '{"tags":["a"]}',
      })
      const line = fresh.logs().findLast((entry) => entry.msg === 'invalidation refused: bad credentials')
      assert.equal(line?.reason, 'invalid')
      assert.equal(line?.level, 'warn')
      assert.doesNotMatch(JSON.stringify(fresh.logs()), new RegExp(`${wrong}|${TOKEN}`))
    } finally {
      await fresh.close()
    }
  })

  test('with no token configured, answers 403 saying how to set one', async () => {
    const open = await startAdmin([])
    try {
      const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${TOKEN}` }]
      for (const headers of attempts) {
        const reply = await send(`${open.url}/invalidate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{"all":true}',
        })
        assert.equal(reply.status, 403)
        const answer = json(reply)
        assert.equal(answer.code, 'EC_ERR_ADMIN_NO_TOKENS')
        assert.match(String(answer.error), /set admin\.tokens in the config file or EDGECACHE_ADMIN_TOKEN/)
      }
      assert.equal(open.invalidator.calls.length, 0)
    } finally {
      await open.close()
    }
  })
})

describe('a bad request', () => {
  // [what, body, the error after "invalid request: "]
  const cases: [string, string | object, string][] = [
    ['an empty body', '', 'body: empty; expected a JSON object such as {"tags":["product:42"]}'],
    ['bad JSON', '{not json', 'body: not valid JSON ('],
    ['a JSON array', '[1]', 'body: expected a JSON object, got [1]'],
    ['JSON null', 'null', 'body: expected a JSON object, got null'],
    [
      'an unknown field',
      { tag: ['x'] },
      'tag: unknown field; expected tags, urls, prefixes, all, soft, dryRun',
    ],
    ['tags not a list', { tags: 'x' }, 'tags: expected a list of strings, got "x"'],
    ['a tag not a string', { tags: ['ok', 5] }, 'tags[1]: expected a string, got 5'],
    ['an empty tag', { tags: [''] }, 'tags[0]: must not be empty'],
    [
      'a relative URL',
      { urls: ['https://shop.example/p/0', '/p/1'] },
      'urls[1]: expected an absolute http:// or https:// URL, got "/p/1"',
    ],
    [
      'a URL of another scheme',
      { urls: ['ftp://shop.example/p'] },
      'urls[0]: expected an absolute http:// or https:// URL, got "ftp://shop.example/p"',
    ],
    ['an empty URL', { urls: [''] }, 'urls[0]: must not be empty'],
    [
      'a prefix without a host',
      { prefixes: ['shop.example/p/'] },
      'prefixes[0]: expected an absolute http:// or https:// URL, got "shop.example/p/"',
    ],
    ['soft not a boolean', { tags: ['a'], soft: 'yes' }, 'soft: expected true or false, got "yes"'],
    ['dryRun not a boolean', { tags: ['a'], dryRun: 1 }, 'dryRun: expected true or false, got 1'],
    ['all not a boolean', { all: 'true' }, 'all: expected true or false, got "true"'],
    ['an empty object', {}, 'nothing to purge; give tags, urls or prefixes, or "all": true'],
    [
      'only empty lists',
      { tags: [], urls: [] },
      'nothing to purge; give tags, urls or prefixes, or "all": true',
    ],
    [
      'all: false alone',
      { all: false },
      'all: false selects nothing; give tags, urls or prefixes, or "all": true',
    ],
    ['only soft', { soft: true }, 'nothing to purge; give tags, urls or prefixes, or "all": true'],
    [
      'all with tags',
      { all: true, tags: ['a'] },
      'all: true purges everything; send it without tags, urls or prefixes',
    ],
    [
      'several problems at once',
      { tags: [''], urls: ['x'], extra: 1 },
      'extra: unknown field; expected tags, urls, prefixes, all, soft, dryRun; tags[0]: must not be empty; urls[0]: expected an absolute http:// or https:// URL, got "x"',
    ],
  ]
  for (const [name, body, error] of cases) {
    test(`answers 400 naming the problem: ${name}`, async () => {
      const reply = await invalidate(body)
      assert.equal(reply.status, 400)
      const answer = json(reply)
      assert.equal(answer.code, 'EC_ERR_ADMIN_BAD_REQUEST')
      const message = String(answer.error)
      if (error.endsWith('(')) assert.ok(message.startsWith(`invalid request: ${error}`), message)
      else {
        const issues = (m: string) => m.replace('invalid request: ', '').split('; ').sort()
        // zod reports fields in its own order; compare the set of problems.
        if (name === 'several problems at once') assert.deepEqual(issues(message), issues(error))
        else assert.equal(message, `invalid request: ${error}`)
      }
      assert.equal(admin.invalidator.calls.length, 0)
    })
  }

  test('cuts a long offending value short in the message', () => {
    const parsed = parseInvalidation(JSON.stringify({ urls: [`/${'x'.repeat(500)}`] }))
    assert.ok('problem' in parsed)
    assert.ok(parsed.problem.length < 200, parsed.problem)
  })

  test('answers 415 to a body that is not JSON', async () => {
    const reply = await invalidate('tags=a', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    assert.equal(reply.status, 415)
    assert.deepEqual(json(reply), {
      error: 'expected Content-Type: application/json, got "application/x-www-form-urlencoded"',
      code: 'EC_ERR_ADMIN_MEDIA_TYPE',
    })
  })

  test('answers 413 to a body over 1 MiB, declared by Content-Length', async () => {
    const body = JSON.stringify({ tags: ['x'.repeat(1024 * 1024)] })
    const reply = await invalidate(body)
    assert.equal(reply.status, 413)
    assert.equal(json(reply).code, 'EC_ERR_REQUEST_BODY_TOO_LARGE')
    assert.equal(admin.invalidator.calls.length, 0)
  })

  test('answers 413 to a chunked body that grows past 1 MiB', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${admin.url}/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.write('{"tags":["')
      // 1 MiB in 64 KiB chunks, then more: the server answers once the limit is passed.
      const chunk = 'x'.repeat(64 * 1024)
      for (let i = 0; i < 17; i++) req.write(chunk)
      req.end('"]}')
    })
    assert.equal(status, 413)
    assert.equal(admin.invalidator.calls.length, 0)
  })
})

describe('methods and paths', () => {
  for (const method of ['GET', 'PUT', 'DELETE']) {
    test(`${method} /invalidate is 405 with Allow: POST`, async () => {
      const reply = await invalidate({ all: true }, { method })
      assert.equal(reply.status, 405)
      assert.equal(reply.header('allow'), 'POST')
      assert.equal(json(reply).error, `${method} is not allowed on /invalidate; use POST`)
      assert.equal(admin.invalidator.calls.length, 0)
    })
  }

  test('POST /health is 405 with Allow: GET, HEAD', async () => {
    const reply = await send(`${admin.url}/health`, { method: 'POST', body: '{}' })
    assert.equal(reply.status, 405)
    assert.equal(reply.header('allow'), 'GET, HEAD')
  })

  test('/health and /ready still answer', async () => {
    assert.deepEqual(json(await send(`${admin.url}/health`)), { status: 'ok' })
    assert.equal((await send(`${admin.url}/ready`)).status, 200)
  })

  test('an unknown path is 404', async () => {
    const reply = await send(`${admin.url}/invalidat`)
    assert.equal(reply.status, 404)
    assert.equal(json(reply).code, 'EC_ERR_ADMIN_NOT_FOUND')
  })

  test('a query string does not change the route', async () => {
    const reply = await send(`${admin.url}/invalidate?x=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: '{"all":true}',
    })
    assert.equal(reply.status, 200)
  })
})

describe('invalidator failures', () => {
  test('storage unavailable is 503 saying the purge was not done', async () => {
    admin.invalidator.next = {
      error: new EdgecacheError('EC_ERR_STORAGE_UNAVAILABLE', ['redis connection refused']),
    }
    const reply = await invalidate({ tags: ['a'] })
    assert.equal(reply.status, 503)
    assert.deepEqual(json(reply), {
      error: 'purge not done, nothing was invalidated: storage unavailable: redis connection refused',
      code: 'EC_ERR_STORAGE_UNAVAILABLE',
    })
    const line = admin.logs().findLast((entry) => entry.msg === 'invalidation not done: storage unavailable')
    assert.equal(line?.level, 'warn')
  })

  test('any other error is 500 "internal error", logged with the error', async () => {
    admin.invalidator.next = { error: new Error('index corrupted at /var/secret/path') }
    const reply = await invalidate({ tags: ['a'] })
    assert.equal(reply.status, 500)
    assert.deepEqual(json(reply), { error: 'internal error', code: 'EC_ERR_INTERNAL' })
    const line = admin.logs().findLast((entry) => entry.msg === 'invalidation failed')
    assert.equal(line?.level, 'error')
    assert.match(JSON.stringify(line?.err), /index corrupted/)
  })
})

describe('Expect: 100-continue', () => {
  /** Sends the head of a POST that expects 100-continue; resolves with what came back first. */
  async function firstAnswer(headers: Record<string, string>, body: string): Promise<string> {
    const { port } = new URL(admin.url)
    const socket = connect(Number(port), '127.0.0.1')
    const head = Object.entries({
      host: 'admin',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      expect: '100-continue',
      connection: 'close',
      ...headers,
    })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')
    socket.write(`POST /invalidate HTTP/1.1\r\n${head}\r\n`)
    let seen = ''
    return new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1')
        // Invited: send the body, and read on to the final answer.
        if (seen.startsWith('HTTP/1.1 100')) {
          if (!socket.writableEnded) socket.end(body)
        }
      })
      socket.on('close', () => resolve(seen))
      socket.on('error', () => {})
    })
  }

  test('a request without a token is refused without being invited to send its body', async () => {
    const seen = await firstAnswer({}, JSON.stringify({ tags: ['a'] }))
    assert.match(seen, /^HTTP\/1\.1 401 /)
    assert.doesNotMatch(seen, /100 Continue/)
    assert.equal(admin.invalidator.calls.length, 0)
  })

  test('an authorized request is invited, sends its body and is answered', async () => {
    const seen = await firstAnswer({ authorization: `Bearer ${TOKEN}` }, JSON.stringify({ tags: ['a'] }))
    assert.match(seen, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /)
    assert.equal(admin.invalidator.calls.length, 1)
  })
})
