/**
 * `edgecache routes test`: which route a URL takes, its parameters, tags, cache key and
 * policy, from --routes, the config's routes field or EDGECACHE_ROUTES; and its errors.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseArgs } from '../../src/cli/args.ts'
import { runRoutes } from '../../src/cli/routes.ts'

let dir = ''
let routesFile = ''
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgecache-routes-cli-'))
  routesFile = join(dir, 'routes.yaml')
  writeFileSync(
    routesFile,
    `
routes:
  - name: product
    match: { host: shop.example, methods: [GET, HEAD], path: /p/:id }
    cache:
      ttl: 10m
      staleWhileRevalidate: 1h
      query: { ignore: [utm_*, fbclid], sort: true }
      key: { headers: [accept-language], cookies: [currency] }
    tags: [product, "product:{id}"]
  - name: api
    match: { pathPrefix: /api/ }
    cache: { bypass: true }
    upstream: api
  - name: files
    match: { path: /files/:owner/* }
    tags: ["files:{owner}"]
default: { name: other, tags: [site] }
`,
  )
})
after(() => rmSync(dir, { recursive: true, force: true }))

interface Run {
  readonly code: number
  readonly out: string
  readonly err: string
}

async function routes(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let out = ''
  let err = ''
  const code = await runRoutes(
    parseArgs(['routes', ...argv]),
    env,
    { write: (text: string) => (out += text) },
    { write: (text: string) => (err += text) },
  )
  return { code, out, err }
}

describe('output', () => {
  test('a product URL: route, params, tags, normalised cache key with header and cookie, policy', async () => {
    const run = await routes([
      'test',
      '--routes',
      routesFile,
      'https://Shop.Example/p/42?utm_source=mail&b=2&a=1',
      '--header',
      'Accept-Language: fr',
      '--header=Cookie: session=s1; currency=EUR',
    ])
    assert.equal(run.err, '')
    assert.equal(run.code, 0)
    assert.equal(
      run.out,
      [
        'GET https://shop.example/p/42?utm_source=mail&b=2&a=1',
        '  route:     product',
        '  params:    id=42',
        '  tags:      product product:42',
        '  cache key: https://shop.example/p/42?a=1&b=2 header:accept-language=fr cookie:currency=EUR',
        '  policy:    ttl 10m, staleWhileRevalidate 1h, query ignore [utm_*, fbclid], query sort, key headers [accept-language], key cookies [currency]',
        '  upstream:  (default)',
        '',
      ].join('\n'),
    )
  })

  test('absent header and cookie are shown as absent in the key', async () => {
    const run = await routes(['test', '--routes', routesFile, 'https://shop.example/p/1'])
    assert.match(
      run.out,
      /^ {2}cache key: https:\/\/shop\.example\/p\/1 header:accept-language cookie:currency$/m,
    )
  })

  test('--method changes the route; a bypassed route has no cache key', async () => {
    const run = await routes([
      'test',
      '--routes',
      routesFile,
      'http://shop.example/api/v1/users',
      '--method',
      'post',
    ])
    assert.equal(run.code, 0)
    assert.match(run.out, /^POST http:\/\/shop\.example\/api\/v1\/users$/m)
    assert.match(run.out, /^ {2}route: {5}api$/m)
    assert.match(run.out, /^ {2}cache key: \(none: the route bypasses the cache\)$/m)
    assert.match(run.out, /^ {2}policy: {4}bypass \(never cached\)$/m)
    assert.match(run.out, /^ {2}upstream: {2}api$/m)
    const post = await routes(['test', '--routes', routesFile, 'http://shop.example/p/1', '--method', 'POST'])
    assert.match(post.out, /^ {2}route: {5}other$/m)
  })

  test('a path takes its host from the Host header; the * tail is the wild parameter', async () => {
    const run = await routes([
      'test',
      '--routes',
      routesFile,
      '/files/ann/a/b.txt',
      '--header',
      'Host: files.example',
    ])
    assert.match(run.out, /^GET http:\/\/files\.example\/files\/ann\/a\/b\.txt$/m)
    assert.match(run.out, /^ {2}params: {4}owner=ann wild=a\/b\.txt$/m)
    assert.match(run.out, /^ {2}tags: {6}files:ann$/m)
  })

  test('an unmatched URL takes the default route', async () => {
    const run = await routes(['test', '--routes', routesFile, 'http://other.example/'])
    assert.equal(run.code, 0)
    assert.match(run.out, /^ {2}route: {5}other$/m)
    assert.match(run.out, /^ {2}params: {4}\(none\)$/m)
    assert.match(run.out, /^ {2}tags: {6}site$/m)
    assert.match(run.out, /^ {2}cache key: http:\/\/other\.example\/$/m)
    assert.match(run.out, /^ {2}policy: {4}\(none: the response decides\)$/m)
  })
})

describe('where the route file comes from', () => {
  test('the config file named by --config', async () => {
    const config = join(dir, 'edgecache.yaml')
    writeFileSync(config, `routes: ${routesFile}\n`)
    const run = await routes(['test', '--config', config, 'https://shop.example/p/9'])
    assert.equal(run.code, 0, run.err)
    assert.match(run.out, /^ {2}route: {5}product$/m)
  })

  test('EDGECACHE_ROUTES, and EDGECACHE_CONFIG', async () => {
    const byRoutes = await routes(['test', 'https://shop.example/p/9'], { EDGECACHE_ROUTES: routesFile })
    assert.match(byRoutes.out, /^ {2}route: {5}product$/m)
    const config = join(dir, 'env-config.json')
    writeFileSync(config, JSON.stringify({ routes: routesFile }))
    const byConfig = await routes(['test', 'https://shop.example/p/9'], { EDGECACHE_CONFIG: config })
    assert.match(byConfig.out, /^ {2}route: {5}product$/m)
  })

  test('--routes wins over the config', async () => {
    const other = join(dir, 'other.json')
    writeFileSync(other, JSON.stringify({ routes: [{ name: 'everything', match: {} }] }))
    const run = await routes(['test', '--routes', other, 'https://shop.example/p/9'], {
      EDGECACHE_ROUTES: routesFile,
    })
    assert.match(run.out, /^ {2}route: {5}everything$/m)
  })
})

describe('errors', () => {
  const usage: [string, string[], RegExp][] = [
    ['no subcommand', [], /^edgecache routes: name a subcommand$/m],
    ['an unknown subcommand', ['list'], /^edgecache routes: unknown subcommand "list"$/m],
    ['no URL', ['test', '--routes', 'x.yaml'], /name a URL to test/],
    ['two URLs', ['test', '--routes', 'x.yaml', '/a', '/b'], /unexpected argument "\/b"/],
    [
      'a relative URL',
      ['test', '--routes', 'x.yaml', 'shop.example/p/1'],
      /expected an absolute http:\/\/ or https:\/\/ URL or a path/,
    ],
    [
      'a header without a colon',
      ['test', '--routes', 'x.yaml', '/', '--header', 'Accept-Language fr'],
      /--header: expected 'Name: value'/,
    ],
    ['no route file anywhere', ['test', '/'], /no route file; pass --routes FILE, set EDGECACHE_ROUTES/],
  ]
  for (const [what, argv, message] of usage) {
    test(`${what} is a usage error (exit 2)`, async () => {
      const run = await routes(argv)
      assert.equal(run.code, 2)
      assert.equal(run.out, '')
      assert.match(run.err, message)
    })
  }

  test('an invalid route file prints each problem under the file name (exit 1)', async () => {
    const bad = join(dir, 'bad.yaml')
    writeFileSync(
      bad,
      'routes:\n  - name: p\n    match: { path: /p/:id }\n    tags: ["p:{sku}"]\n  - name: p\n    match: {}\n',
    )
    const run = await routes(['test', '--routes', bad, '/p/1'])
    assert.equal(run.code, 1)
    assert.equal(
      run.err,
      [
        `edgecache routes test: ${bad}: routes[0] (p).tags[0]: unknown parameter "sku" (path has: id)`,
        `edgecache routes test: ${bad}: routes[1] (p).name: "p" is already the name of routes[0]`,
        '',
      ].join('\n'),
    )
  })

  test('a missing route file (exit 1)', async () => {
    const run = await routes(['test', '--routes', join(dir, 'missing.yaml'), '/'])
    assert.equal(run.code, 1)
    assert.match(run.err, /cannot read route file .*missing\.yaml: ENOENT/)
  })

  test('an invalid config file (exit 1)', async () => {
    const config = join(dir, 'bad-config.yaml')
    writeFileSync(config, 'workers: none\n')
    const run = await routes(['test', '--config', config, '/'])
    assert.equal(run.code, 1)
    assert.match(run.err, /workers: expected an integer >= 1, got "none"/)
  })
})
