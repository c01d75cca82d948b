/**
 * The compiled matcher: each match kind, hosts, methods, file order across buckets, the
 * default route, parameters and tags. Table-driven: a route file, then requests and the
 * route each must take.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileRoutes } from '../../src/router/compile.ts'
import type { Router } from '../../src/router/route.ts'
import { parseRouteFile } from '../../src/router/route-file.ts'

function routerOf(routes: readonly Record<string, unknown>[], fallback?: Record<string, unknown>): Router {
  return compileRoutes(parseRouteFile({ routes, ...(fallback === undefined ? {} : { default: fallback }) }))
}

/** [method, host, path, expected route name] */
type Case = readonly [string, string, string, string]

function expectRoutes(router: Router, cases: readonly Case[]): void {
  for (const [method, host, path, name] of cases) {
    assert.equal(router.match(method, host, path).route.name, name, `${method} ${host}${path}`)
  }
}

describe('match kinds', () => {
  const tables: [string, Record<string, unknown>[], Case[]][] = [
    [
      'a template with a parameter matches one non-empty segment',
      [{ name: 'product', match: { path: '/p/:id' } }],
      [
        ['GET', 'a.example', '/p/42', 'product'],
        ['GET', 'a.example', '/p/42?x=1', 'product'],
        ['GET', 'a.example', '/p/', 'default'],
        ['GET', 'a.example', '/p/42/', 'default'],
        ['GET', 'a.example', '/p/42/reviews', 'default'],
        ['GET', 'a.example', '/P/42', 'default'],
        ['GET', 'a.example', '/x/p/42', 'default'],
      ],
    ],
    [
      'a template without parameters matches that path exactly',
      [
        { name: 'home', match: { path: '/' } },
        { name: 'about', match: { path: '/about' } },
        { name: 'slash', match: { path: '/docs/' } },
      ],
      [
        ['GET', 'a', '/', 'home'],
        ['GET', 'a', '/?q=1', 'home'],
        ['GET', 'a', '/about', 'about'],
        ['GET', 'a', '/about/', 'default'],
        ['GET', 'a', '/aboutx', 'default'],
        ['GET', 'a', '/docs/', 'slash'],
        ['GET', 'a', '/docs', 'default'],
      ],
    ],
    [
      'a * tail matches the rest of the path, possibly empty, but not the bare parent',
      [{ name: 'static', match: { path: '/static/*' } }],
      [
        ['GET', 'a', '/static/', 'static'],
        ['GET', 'a', '/static/css/site.css', 'static'],
        ['GET', 'a', '/static', 'default'],
        ['GET', 'a', '/staticx/a', 'default'],
      ],
    ],
    [
      'a parameter in the first segment',
      [{ name: 'user', match: { path: '/:user/profile' } }],
      [
        ['GET', 'a', '/ann/profile', 'user'],
        ['GET', 'a', '/ann/profile/x', 'default'],
        ['GET', 'a', '//profile', 'default'],
      ],
    ],
    [
      'a prefix matches any path starting with it',
      [
        { name: 'api', match: { pathPrefix: '/api/' } },
        { name: 'ap', match: { pathPrefix: '/ap' } },
      ],
      [
        ['GET', 'a', '/api/', 'api'],
        ['GET', 'a', '/api/v1/users', 'api'],
        ['GET', 'a', '/api', 'ap'],
        ['GET', 'a', '/apple', 'ap'],
        ['GET', 'a', '/b/api/', 'default'],
      ],
    ],
    [
      'a regex is searched in the path alone, not the query',
      [
        { name: 'assets', match: { pathRegex: '\\.(css|js|png|woff2)$' } },
        { name: 'versioned', match: { pathRegex: '^/v[0-9]/' } },
      ],
      [
        ['GET', 'a', '/site.css', 'assets'],
        ['GET', 'a', '/deep/down/app.js?v=3', 'assets'],
        ['GET', 'a', '/page?file=x.css', 'default'],
        ['GET', 'a', '/site.cssx', 'default'],
        ['GET', 'a', '/v2/users', 'versioned'],
        ['GET', 'a', '/x/v2/users', 'default'],
      ],
    ],
    [
      'no path matches every path',
      [{ name: 'all', match: {} }],
      [
        ['GET', 'a', '/', 'all'],
        ['DELETE', 'b', '/anything/at/all', 'all'],
      ],
    ],
  ]
  for (const [name, routes, cases] of tables) test(name, () => expectRoutes(routerOf(routes), cases))
})

describe('hosts', () => {
  test('an exact host matches that host in any case, with any port', () => {
    expectRoutes(routerOf([{ name: 'shop', match: { host: 'shop.example' } }]), [
      ['GET', 'shop.example', '/', 'shop'],
      ['GET', 'Shop.Example', '/', 'shop'],
      ['GET', 'shop.example:8080', '/', 'shop'],
      ['GET', 'www.shop.example', '/', 'default'],
      ['GET', 'shop.example.org', '/', 'default'],
      ['GET', '', '/', 'default'],
    ])
  })

  test('*.suffix matches subdomains at any depth, not the suffix itself', () => {
    expectRoutes(routerOf([{ name: 'sub', match: { host: '*.shop.example' } }]), [
      ['GET', 'a.shop.example', '/', 'sub'],
      ['GET', 'a.b.shop.example:443', '/', 'sub'],
      ['GET', 'shop.example', '/', 'default'],
      ['GET', 'ashop.example', '/', 'default'],
    ])
  })

  test('an IPv6 literal host', () => {
    expectRoutes(routerOf([{ name: 'v6', match: { host: '[::1]' } }]), [
      ['GET', '[::1]:8000', '/', 'v6'],
      ['GET', '[::1]', '/', 'v6'],
      ['GET', '[::2]', '/', 'default'],
    ])
  })
})

test('methods restrict a route; without them every method matches', () => {
  const router = routerOf([
    { name: 'read', match: { methods: ['GET', 'head'], path: '/p/:id' } },
    { name: 'write', match: { path: '/p/:id' } },
  ])
  expectRoutes(router, [
    ['GET', 'a', '/p/1', 'read'],
    ['HEAD', 'a', '/p/1', 'read'],
    ['POST', 'a', '/p/1', 'write'],
    ['OPTIONS', 'a', '/p/1', 'write'],
  ])
})

describe('the first route in file order wins', () => {
  test('within one bucket', () => {
    expectRoutes(
      routerOf([
        { name: 'first', match: { path: '/p/:id' } },
        { name: 'second', match: { path: '/p/:sku' } },
      ]),
      [['GET', 'a', '/p/1', 'first']],
    )
  })

  test('across host buckets: exact, wildcard and any host', () => {
    const routes = [
      { name: 'any-early', match: { pathPrefix: '/early/' } },
      { name: 'wild', match: { host: '*.shop.example', pathPrefix: '/' } },
      { name: 'exact', match: { host: 'www.shop.example', pathPrefix: '/' } },
      { name: 'any-late', match: { pathPrefix: '/' } },
    ]
    expectRoutes(routerOf(routes), [
      ['GET', 'www.shop.example', '/early/x', 'any-early'],
      ['GET', 'www.shop.example', '/x', 'wild'],
      ['GET', 'other.example', '/x', 'any-late'],
    ])
    expectRoutes(routerOf([routes[2]!, routes[1]!, routes[3]!]), [['GET', 'www.shop.example', '/x', 'exact']])
    expectRoutes(routerOf([routes[3]!, routes[2]!]), [['GET', 'www.shop.example', '/x', 'any-late']])
  })

  test('across path buckets: unkeyed, first segment and deeper segments', () => {
    const router = routerOf([
      { name: 'deep-exact', match: { path: '/api/v1/status' } },
      { name: 'slug', match: { path: '/:section/v1/users' } },
      { name: 'api-prefix', match: { pathPrefix: '/api/' } },
      { name: 'deep-template', match: { path: '/api/v1/users/:id' } },
      { name: 'regex', match: { pathRegex: '/users/[0-9]+$' } },
      { name: 'everything', match: {} },
    ])
    expectRoutes(router, [
      ['GET', 'a', '/api/v1/status', 'deep-exact'],
      ['GET', 'a', '/api/v1/users', 'slug'],
      ['GET', 'a', '/api/v1/users/7', 'api-prefix'],
      ['GET', 'a', '/shop/users/7', 'regex'],
      ['GET', 'a', '/shop', 'everything'],
    ])
  })

  test('when a method skips the first candidate, the next in file order wins', () => {
    const router = routerOf([
      { name: 'get-only', match: { methods: ['GET'], pathRegex: '^/a/' } },
      { name: 'deeper', match: { path: '/a/:x' } },
      { name: 'any', match: {} },
    ])
    expectRoutes(router, [
      ['GET', 'h', '/a/1', 'get-only'],
      ['POST', 'h', '/a/1', 'deeper'],
      ['POST', 'h', '/a/1/2', 'any'],
    ])
  })

  test('with many regex routes in one bucket (the combined pass)', () => {
    const routes = [
      ...Array.from({ length: 12 }, (_, i) => ({ name: `ext${i}`, match: { pathRegex: `\\.e${i}$` } })),
      { name: 'named', match: { pathRegex: '^/n/(?<id>[0-9]+)$' }, tags: ['n:{id}'] },
      { name: 'slug', match: { path: '/:a/:b' } },
      { name: 'e3-again', match: { pathRegex: '\\.e3$' } },
    ]
    const router = routerOf(routes)
    expectRoutes(router, [
      ['GET', 'h', '/x/y.e3', 'ext3'],
      ['GET', 'h', '/y.e11', 'ext11'],
      ['GET', 'h', '/x/y', 'slug'],
      ['GET', 'h', '/x/y.e12', 'slug'],
      ['GET', 'h', '/y.e12', 'default'],
    ])
    assert.deepEqual(router.match('GET', 'h', '/n/5').tags, ['n:5'])
  })
})

describe('the default route', () => {
  test('is named "default" when the file does not name it', () => {
    const match = routerOf([]).match('GET', 'a', '/')
    assert.equal(match.route.name, 'default')
    assert.deepEqual(match.params, {})
    assert.deepEqual(match.tags, [])
    assert.equal(match.route.policy.bypass, false)
    assert.equal(match.route.upstream, undefined)
  })

  test('carries its own name, policy and tags', () => {
    const router = routerOf([{ name: 'p', match: { path: '/p' } }], {
      name: 'other',
      cache: { ttl: '1m' },
      tags: ['site'],
    })
    const match = router.match('GET', 'a', '/q')
    assert.equal(match.route.name, 'other')
    assert.equal(match.route.policy.ttlMs, 60_000)
    assert.deepEqual(match.tags, ['site'])
    assert.equal(router.size, 1)
  })
})

describe('parameters and tags', () => {
  const router = routerOf([
    {
      name: 'review',
      match: { path: '/p/:id/reviews/:page' },
      tags: ['product', 'product:{id}', 'p{id}-r{page}'],
      upstream: 'catalog',
    },
    { name: 'files', match: { path: '/files/:owner/*' }, tags: ['files:{owner}:{wild}'] },
    {
      name: 'regex',
      match: { pathRegex: '^/c/(?<cat>[a-z]+)(?:/(?<sub>[a-z]+))?$' },
      tags: ['c:{cat}/{sub}'],
    },
    { name: 'static-tags', match: { pathPrefix: '/s/' }, tags: ['s'] },
  ])
  const cases: [string, Record<string, string>, string[]][] = [
    ['/p/42/reviews/3', { id: '42', page: '3' }, ['product', 'product:42', 'p42-r3']],
    ['/p/a%20b/reviews/1', { id: 'a%20b', page: '1' }, ['product', 'product:a%20b', 'pa%20b-r1']],
    ['/files/ann/a/b.txt', { owner: 'ann', wild: 'a/b.txt' }, ['files:ann:a/b.txt']],
    ['/files/ann/', { owner: 'ann', wild: '' }, ['files:ann:']],
    ['/c/shoes/red', { cat: 'shoes', sub: 'red' }, ['c:shoes/red']],
    ['/c/shoes', { cat: 'shoes' }, ['c:shoes/']],
    ['/s/x', {}, ['s']],
  ]
  for (const [path, params, tags] of cases) {
    test(`${path} gives ${JSON.stringify(params)} and tags ${tags.join(' ')}`, () => {
      const match = router.match('GET', 'a', path)
      assert.deepEqual(match.params, params)
      assert.deepEqual(match.tags, tags)
    })
  }

  test('the route carries its upstream, its tag templates and a frozen shape', () => {
    const { route } = router.match('GET', 'a', '/p/1/reviews/2')
    assert.equal(route.upstream, 'catalog')
    assert.deepEqual(route.tags, ['product', 'product:{id}', 'p{id}-r{page}'])
    assert.ok(Object.isFrozen(route))
    assert.ok(Object.isFrozen(route.tags))
  })

  test('a route without parameters returns one shared match', () => {
    assert.equal(router.match('GET', 'a', '/s/1'), router.match('GET', 'b', '/s/2'))
  })
})

test('1,000 routes: late routes, wildcard hosts and misses all find the right route', () => {
  const routes = Array.from({ length: 1000 }, (_, i) => {
    if (i % 4 === 0) return { name: `t${i}`, match: { host: `h${i % 7}.example`, path: `/t${i}/:id` } }
    if (i % 4 === 1) return { name: `p${i}`, match: { pathPrefix: `/p${i}/` } }
    if (i % 4 === 2) return { name: `w${i}`, match: { host: `*.w${i % 5}.example`, pathPrefix: `/w${i}` } }
    return { name: `r${i}`, match: { pathRegex: `^/r${i}/[a-z]+$` } }
  })
  const router = routerOf(routes)
  assert.equal(router.size, 1000)
  expectRoutes(router, [
    ['GET', 'h0.example', '/t0/1', 't0'],
    ['GET', 'h2.example', '/t996/1', 't996'],
    ['GET', 'h1.example', '/t996/1', 'default'],
    ['GET', 'x', '/p997/a', 'p997'],
    ['GET', 'a.w3.example', '/w998x', 'w998'],
    ['GET', 'x', '/r999/abc', 'r999'],
    ['GET', 'x', '/r999/ABC', 'default'],
  ])
})
