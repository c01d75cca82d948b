/**
 * Route file validation: what a valid file becomes, and one case per rule with the exact
 * message, which names the route and the field.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { hasCode } from '../../src/errors.ts'
import { defaultPolicy } from '../../src/router/route.ts'
import { parseRouteFile, validateRouteFile } from '../../src/router/route-file.ts'

const issueExample = `
routes:
  - name: product
    match: { host: shop.example, methods: [GET, HEAD], path: /p/:id }
    cache: { ttl: 10m, staleWhileRevalidate: 1h, staleIfError: 1d,
             query: { ignore: [utm_*, fbclid], sort: true } }
    tags: [product, "product:{id}"]
  - name: api
    match: { pathPrefix: /api/ }
    cache: { bypass: true }
    upstream: api
  - name: assets
    match: { pathRegex: '\\.(css|js|png|woff2)$' }
    cache: { ttl: 7d, ignoreSetCookie: false }
default: { name: other }
`

describe('a valid file', () => {
  test('the issue example parses into routes with policies in ms', () => {
    const file = parseRouteFile(parseYaml(issueExample))
    assert.deepEqual(file, {
      rules: [],
      routes: [
        {
          name: 'product',
          match: {
            host: 'shop.example',
            methods: ['GET', 'HEAD'],
            path: { kind: 'template', template: '/p/:id' },
          },
          policy: {
            bypass: false,
            ignoreSetCookie: false,
            ttlMs: 600_000,
            staleWhileRevalidateMs: 3_600_000,
            staleIfErrorMs: 86_400_000,
            key: {
              ignoreQuery: ['utm_*', 'fbclid'],
              keepQuery: [],
              sortQuery: true,
              headers: [],
              cookies: [],
            },
          },
          tags: ['product', 'product:{id}'],
          upstream: undefined,
          rateLimit: undefined,
          rules: [],
          requireClientCert: false,
        },
        {
          name: 'api',
          match: { host: undefined, methods: undefined, path: { kind: 'prefix', prefix: '/api/' } },
          policy: { ...defaultPolicy, bypass: true },
          tags: [],
          upstream: 'api',
          rateLimit: undefined,
          rules: [],
          requireClientCert: false,
        },
        {
          name: 'assets',
          match: {
            host: undefined,
            methods: undefined,
            path: { kind: 'regex', source: '\\.(css|js|png|woff2)$', params: [], literalPrefix: '' },
          },
          policy: { ...defaultPolicy, ttlMs: 7 * 86_400_000 },
          tags: [],
          upstream: undefined,
          rateLimit: undefined,
          rules: [],
          requireClientCert: false,
        },
      ],
      default: { name: 'other', policy: defaultPolicy, tags: [], upstream: undefined },
    })
  })

  test('every cache field, normalised', () => {
    const file = parseRouteFile({
      routes: [
        {
          name: 'all.fields_1-a',
          match: { host: '*.Shop.Example', methods: ['get', 'PURGE'], pathRegex: '^/x/(?<id>[0-9]+)$' },
          cache: {
            ttlOverride: '1h30m',
            minTtl: '1m',
            maxTtl: '1d',
            staleWhileRevalidate: '0s',
            staleIfError: '500ms',
            staleIfDisconnected: '0s',
            ignoreSetCookie: true,
            rangeRequests: 'parts',
            query: { keep: ['page', 'f_*'] },
            key: { headers: ['Accept-Language'], cookies: ['currency'] },
          },
          tags: ['x:{id}'],
        },
      ],
    })
    const [route] = file.routes
    assert.equal(route?.match.host, '*.shop.example')
    assert.deepEqual(route?.match.methods, ['GET', 'PURGE'])
    assert.deepEqual(route?.match.path, {
      kind: 'regex',
      source: '^/x/(?<id>[0-9]+)$',
      params: ['id'],
      literalPrefix: '/x/',
    })
    assert.deepEqual(route?.policy, {
      bypass: false,
      ignoreSetCookie: true,
      ttlOverrideMs: 5_400_000,
      minTtlMs: 60_000,
      maxTtlMs: 86_400_000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: 500,
      staleIfDisconnectedMs: 0,
      rangeRequests: 'parts',
      key: {
        ignoreQuery: [],
        keepQuery: ['page', 'f_*'],
        sortQuery: false,
        headers: ['accept-language'],
        cookies: ['currency'],
      },
    })
    assert.deepEqual(file.default, { name: 'default', policy: defaultPolicy, tags: [], upstream: undefined })
  })

  test('an empty list, a file of only a default, and match: {} are valid', () => {
    assert.deepEqual(parseRouteFile({ routes: [] }), {
      rules: [],
      routes: [],
      default: { name: 'default', policy: defaultPolicy, tags: [], upstream: undefined },
    })
    assert.deepEqual(parseRouteFile({ default: {} }).routes, [])
    assert.deepEqual(parseRouteFile({ routes: [{ name: 'all', match: {} }] }).routes[0]?.match.path, {
      kind: 'any',
    })
  })

  test('the result is deep-frozen', () => {
    const file = parseRouteFile(parseYaml(issueExample))
    assert.ok(Object.isFrozen(file))
    assert.ok(Object.isFrozen(file.routes[0]?.policy.key.ignoreQuery))
    assert.ok(Object.isFrozen(file.routes[0]?.match.path))
    assert.throws(() => (file.routes as unknown[]).push({}), TypeError)
  })

  test('a * tail gives the wild parameter to tags', () => {
    const file = parseRouteFile({ routes: [{ name: 's', match: { path: '/s/*' }, tags: ['s:{wild}'] }] })
    assert.deepEqual(file.routes[0]?.tags, ['s:{wild}'])
  })
})

describe('problems', () => {
  const route = (over: Record<string, unknown>) => ({ name: 'r', match: {}, ...over })
  // [rule, file content, expected problems]
  const cases: [string, unknown, string[]][] = [
    [
      'a file that is not a mapping',
      ['a'],
      ['(route file): expected a mapping with routes and default, got ["a"]'],
    ],
    [
      'an unknown top-level field',
      { rutes: [] },
      ['rutes: unknown field (a route file has rules, routes and default)'],
    ],
    ['routes not a list', { routes: { a: 1 } }, ['routes: expected a list of routes, got {"a":1}']],
    ['a route that is not a mapping', { routes: ['api'] }, ['routes[0]: expected a mapping, got "api"']],
    [
      'a route without a name',
      { routes: [{ match: {} }] },
      ['routes[0].name: expected a name of letters, digits, "_", "." and "-" (at most 100), got nothing'],
    ],
    [
      'a name with a space',
      { routes: [route({ name: 'my route' })] },
      [
        'routes[0] (my route).name: expected a name of letters, digits, "_", "." and "-" (at most 100), got "my route"',
      ],
    ],
    [
      'a duplicate name',
      { routes: [route({ name: 'a' }), route({ name: 'b' }), route({ name: 'a' })] },
      ['routes[2] (a).name: "a" is already the name of routes[0]'],
    ],
    [
      'a route without match',
      { routes: [{ name: 'r' }] },
      ['routes[0] (r).match: required; write match: {} to match every request'],
    ],
    ['an unknown route field', { routes: [route({ paths: '/x' })] }, ['routes[0] (r).paths: unknown field']],
    [
      'an unknown match field',
      { routes: [route({ match: { prefix: '/x' } })] },
      ['routes[0] (r).match.prefix: unknown field'],
    ],
    [
      'match not a mapping',
      { routes: [route({ match: '/x' })] },
      ['routes[0] (r).match: expected a mapping, got "/x"'],
    ],
    [
      'two path kinds',
      { routes: [route({ match: { path: '/a', pathRegex: 'a' } })] },
      ['routes[0] (r).match: set one of path, pathPrefix and pathRegex, not path and pathRegex'],
    ],
    [
      'a host with a port',
      { routes: [route({ match: { host: 'shop.example:8080' } })] },
      ['routes[0] (r).match.host: a port is not matched; write the host alone, got "shop.example:8080"'],
    ],
    [
      'a host with a wildcard in the middle',
      { routes: [route({ match: { host: 'shop.*.example' } })] },
      [
        'routes[0] (r).match.host: expected a host name, or *.suffix for its subdomains, got "shop.*.example"',
      ],
    ],
    [
      'methods not a list',
      { routes: [route({ match: { methods: 'GET' } })] },
      ['routes[0] (r).match.methods: expected a list, got "GET"'],
    ],
    [
      'an empty methods list',
      { routes: [route({ match: { methods: [] } })] },
      ['routes[0] (r).match.methods: must list at least one method (leave it out to match every method)'],
    ],
    [
      'a method that is not a token',
      { routes: [route({ match: { methods: ['GET', 'GE T'] } })] },
      ['routes[0] (r).match.methods[1]: expected a method such as GET, got "GE T"'],
    ],
    [
      'a template without a leading slash',
      { routes: [route({ match: { path: 'p/:id' } })] },
      ['routes[0] (r).match.path: must start with "/", got "p/:id"'],
    ],
    [
      'a template with a query',
      { routes: [route({ match: { path: '/p?x=1' } })] },
      [
        'routes[0] (r).match.path: must not contain whitespace, "?" or "#" (a template matches the path only)',
      ],
    ],
    [
      'a repeated parameter',
      { routes: [route({ match: { path: '/p/:id/:id' } })] },
      ['routes[0] (r).match.path: parameter "id" appears twice'],
    ],
    [
      'a bad parameter name',
      { routes: [route({ match: { path: '/p/:1d' } })] },
      ['routes[0] (r).match.path: invalid parameter ":1d": expected ":" and a name like :id'],
    ],
    [
      'a * before the end',
      { routes: [route({ match: { path: '/p/*/x' } })] },
      ['routes[0] (r).match.path: "*" is only allowed as the last segment'],
    ],
    [
      'a * inside a segment',
      { routes: [route({ match: { path: '/p*' } })] },
      [
        'routes[0] (r).match.path: "*" must be a whole last segment ("/static/*"); for other prefixes use pathPrefix',
      ],
    ],
    [
      'a parameter named wild',
      { routes: [route({ match: { path: '/p/:wild' } })] },
      ['routes[0] (r).match.path: parameter name "wild" is kept for the "*" tail'],
    ],
    [
      'a prefix without a leading slash',
      { routes: [route({ match: { pathPrefix: 'api/' } })] },
      [
        'routes[0] (r).match.pathPrefix: expected a path prefix starting with "/" (no whitespace, "?" or "#"), got "api/"',
      ],
    ],
    [
      'an invalid regex',
      { routes: [route({ name: 'assets', match: { pathRegex: '\\.(css|js$' } })] },
      ['routes[0] (assets).match.pathRegex: invalid regular expression: Unterminated group'],
    ],
    [
      'a catastrophic regex',
      { routes: [route({ name: 'bad', match: { pathRegex: '^/(a+)+$' } })] },
      [
        'routes[0] (bad).match.pathRegex: can backtrack catastrophically (exponential time on a path repeating "a"); remove the nested or adjacent repetitions that can match the same text',
      ],
    ],
    [
      'a regex that is not text',
      { routes: [route({ match: { pathRegex: 5 } })] },
      ['routes[0] (r).match.pathRegex: expected a regular expression, got 5'],
    ],
    [
      'a bad duration',
      { routes: [route({ cache: { ttl: 600 } })] },
      ['routes[0] (r).cache.ttl: expected a duration like "10m", got 600'],
    ],
    [
      'a bad duration unit',
      { routes: [route({ cache: { staleIfError: '1w' } })] },
      ['routes[0] (r).cache.staleIfError: expected a duration like "10m", got "1w"'],
    ],
    [
      'bypass not a boolean',
      { routes: [route({ cache: { bypass: 'yes' } })] },
      ['routes[0] (r).cache.bypass: expected true or false, got "yes"'],
    ],
    [
      'bypass with other cache fields',
      { routes: [route({ cache: { bypass: true, ttl: '1m', query: { sort: true } } })] },
      [
        'routes[0] (r).cache.bypass: a bypassed route is never cached, so ttl, query would have no effect; remove them',
      ],
    ],
    [
      'ttl and ttlOverride',
      { routes: [route({ cache: { ttl: '1m', ttlOverride: '2m' } })] },
      [
        'routes[0] (r).cache.ttlOverride: set ttl (used when the response gives no freshness) or ttlOverride (replaces it), not both',
      ],
    ],
    [
      'minTtl above maxTtl',
      { routes: [route({ cache: { minTtl: '1h', maxTtl: '10m' } })] },
      ['routes[0] (r).cache.minTtl: must not exceed maxTtl (10m), got 1h'],
    ],
    [
      'an unknown cache field',
      { routes: [route({ cache: { tll: '1m' } })] },
      ['routes[0] (r).cache.tll: unknown field'],
    ],
    [
      'a query name with a separator',
      { routes: [route({ cache: { query: { ignore: ['utm_*', 'a=b'] } } })] },
      [
        'routes[0] (r).cache.query.ignore[1]: expected a query parameter name, "*" matching any run of characters, got "a=b"',
      ],
    ],
    [
      'an unknown query field',
      { routes: [route({ cache: { query: { drop: [] } } })] },
      ['routes[0] (r).cache.query.drop: unknown field'],
    ],
    [
      'a header name with a space',
      { routes: [route({ cache: { key: { headers: ['Accept Language'] } } })] },
      ['routes[0] (r).cache.key.headers[0]: expected a header field name, got "Accept Language"'],
    ],
    [
      'a cookie name with a semicolon',
      { routes: [route({ cache: { key: { cookies: ['a;b'] } } })] },
      ['routes[0] (r).cache.key.cookies[0]: expected a cookie name, got "a;b"'],
    ],
    [
      'a tag naming a parameter the path does not define',
      { routes: [route({ name: 'product', match: { path: '/p/:id' }, tags: ['product', 'product:{sku}'] })] },
      ['routes[0] (product).tags[1]: unknown parameter "sku" (path has: id)'],
    ],
    [
      'a tag with a parameter on a path without any',
      { routes: [route({ match: { pathPrefix: '/p/' }, tags: ['{id}'] })] },
      ['routes[0] (r).tags[0]: unknown parameter "id" (path has none)'],
    ],
    [
      'a tag with a parameter a regex does not name',
      { routes: [route({ match: { pathRegex: '^/p/(?<id>[0-9]+)$' }, tags: ['{sku}'] })] },
      ['routes[0] (r).tags[0]: unknown parameter "sku" (path has: id)'],
    ],
    [
      'a tag with a space',
      { routes: [route({ tags: ['a b'] })] },
      ['routes[0] (r).tags[0]: must not contain whitespace or control characters'],
    ],
    ['an empty tag', { routes: [route({ tags: [''] })] }, ['routes[0] (r).tags[0]: must not be empty']],
    // A file caught half-written by a live reload must not read as "no routes".
    ['an empty file', null, ['(route file): empty; a file with no routes says `routes: []`']],
    ['routes: with nothing after it', { routes: null }, ['routes: expected a list of routes, got null']],
    [
      'a tag with an unmatched brace',
      { routes: [route({ tags: ['a{b'] })] },
      ['routes[0] (r).tags[0]: unmatched "{" or "}"; placeholders are written {name}'],
    ],
    ['tags not a list', { routes: [route({ tags: 'a' })] }, ['routes[0] (r).tags: expected a list, got "a"']],
    [
      'an upstream that is not a token',
      { routes: [route({ upstream: 'my api' })] },
      ['routes[0] (r).upstream: expected an upstream name, got "my api"'],
    ],
    [
      'a rate that is not requests per time',
      { routes: [route({ rateLimit: { rate: 10 } })] },
      [
        'routes[0] (r).rateLimit.rate: expected requests per time such as "10/s", "600/m" or "1000/h", got 10',
      ],
    ],
    [
      'a rate limit keyed by a parameter the path lacks',
      { routes: [route({ match: { path: '/p/:id' }, rateLimit: { rate: '5/s', key: 'param:sku' } })] },
      ['routes[0] (r).rateLimit.key: unknown parameter "sku" (path has: id)'],
    ],
    [
      'a rate limit allowlist entry that is no CIDR',
      { routes: [route({ rateLimit: { rate: '5/s', burst: 0, allow: ['10.0.0.0/33'] } })] },
      [
        'routes[0] (r).rateLimit.burst: expected an integer >= 1, got 0',
        'routes[0] (r).rateLimit.allow[0]: expected an IP address or CIDR like "10.0.0.0/8", got "10.0.0.0/33"',
      ],
    ],
    ['an unknown default field', { default: { name: 'x', match: {} } }, ['default.match: unknown field']],
    [
      'a default named like a route',
      { routes: [route({ name: 'a' })], default: { name: 'a' } },
      ['default.name: "a" is already the name of routes[0]; the default route needs its own name'],
    ],
    [
      'a default tag with a parameter',
      { default: { tags: ['x:{id}'] } },
      ['default.tags[0]: unknown parameter "id" (the default route has no parameters)'],
    ],
    [
      'a bad default cache field',
      { default: { cache: { ttl: 'soon' } } },
      ['default.cache.ttl: expected a duration like "10m", got "soon"'],
    ],
  ]
  for (const [rule, content, problems] of cases) {
    test(`reports ${rule}`, () => {
      const result = validateRouteFile(content)
      assert.equal(result.ok, false)
      assert.deepEqual(result.ok ? [] : result.problems, problems)
    })
  }

  test('collects every problem of every route, and checks each part of a route apart', () => {
    const result = validateRouteFile({
      routes: [
        { name: 'a', match: { host: 'x:1' }, cache: { ttl: 'x' }, tags: ['{'] },
        { name: 'b', match: { path: '/p/:id' }, tags: ['{sku}'] },
      ],
      default: { name: 'b' },
    })
    assert.deepEqual(result.ok ? [] : result.problems, [
      'routes[0] (a).match.host: a port is not matched; write the host alone, got "x:1"',
      'routes[0] (a).cache.ttl: expected a duration like "10m", got "x"',
      'routes[0] (a).tags[0]: unmatched "{" or "}"; placeholders are written {name}',
      'routes[1] (b).tags[0]: unknown parameter "sku" (path has: id)',
      'default.name: "b" is already the name of routes[1]; the default route needs its own name',
    ])
  })

  test('parseRouteFile throws EC_ERR_ROUTES_INVALID with the problems', () => {
    assert.throws(
      () => parseRouteFile({ routes: [{ name: 'x', match: { pathRegex: '(a|a)*$' } }] }),
      (err) => {
        assert.ok(hasCode(err, 'EC_ERR_ROUTES_INVALID'))
        const { problems } = err as unknown as { problems: string[] }
        assert.equal(problems.length, 1)
        assert.match(problems[0]!, /^routes\[0\] \(x\)\.match\.pathRegex: can backtrack catastrophically/)
        assert.equal(err.message, `invalid routes: ${problems[0]}`)
        return true
      },
    )
  })
})
