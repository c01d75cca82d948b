/** Loading a route file from disk: YAML and JSON, unreadable files, and the check functions. */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { hasCode } from '../../src/errors.ts'
import { checkRoutesFile, loadRoutes, routeFileProblems } from '../../src/router/load.ts'

let dir = ''
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgecache-routes-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const yaml = `
routes:
  - name: product
    match: { path: /p/:id }
    tags: ["product:{id}"]
default: { name: other }
`

describe('loadRoutes', () => {
  test('reads YAML (.yaml and .yml) and JSON', () => {
    const json = JSON.stringify({
      routes: [{ name: 'product', match: { path: '/p/:id' }, tags: ['product:{id}'] }],
      default: { name: 'other' },
    })
    for (const path of [file('r.yaml', yaml), file('r.yml', yaml), file('r.json', json)]) {
      const router = loadRoutes(path)
      assert.equal(router.size, 1)
      assert.deepEqual(router.match('GET', 'a', '/p/7').tags, ['product:7'])
      assert.equal(router.match('GET', 'a', '/q').route.name, 'other')
    }
  })

  test('a YAML file of `routes: []` gives only the default route', () => {
    const router = loadRoutes(file('none.yaml', 'routes: []\n'))
    assert.equal(router.size, 0)
    assert.equal(router.match('GET', 'a', '/').route.name, 'default')
  })

  test('an empty YAML file is refused: it is more often half-written than meant', () => {
    assert.throws(
      () => loadRoutes(file('empty.yaml', '# only a comment\n')),
      (err: Error) => /empty; a file with no routes says `routes: \[\]`/.test(err.message),
    )
  })

  const fileErrors: [string, string, string, RegExp][] = [
    ['a missing file', 'missing.yaml', '', /^cannot read route file .*missing\.yaml: ENOENT/],
    [
      'YAML syntax',
      'bad.yaml',
      'routes:\n  - name: a\n   match: {}\n',
      /^cannot read route file .*bad\.yaml: YAML syntax error: .* at line \d+, column \d+$/,
    ],
    [
      'YAML duplicate keys',
      'dup.yaml',
      'routes: []\nroutes: []\n',
      /dup\.yaml: YAML syntax error: .*unique/i,
    ],
    ['JSON syntax', 'bad.json', '{ "routes": ', /^cannot read route file .*bad\.json: JSON syntax error: /],
    [
      'an unknown extension',
      'routes.toml',
      'x = 1',
      /routes\.toml: expected a \.json, \.yaml or \.yml file$/,
    ],
  ]
  for (const [name, fileName, text, message] of fileErrors) {
    test(`reports ${name} as EC_ERR_ROUTES_FILE naming the file`, () => {
      const path = text === '' ? join(dir, fileName) : file(fileName, text)
      assert.throws(
        () => loadRoutes(path),
        (err) => hasCode(err, 'EC_ERR_ROUTES_FILE') && message.test(err.message),
      )
    })
  }

  test('reports invalid content as EC_ERR_ROUTES_INVALID with every problem', () => {
    const path = file(
      'invalid.yaml',
      'routes:\n  - name: a\n    match: { pathRegex: "(a+)+$" }\n  - name: a\n    match: {}\n',
    )
    assert.throws(
      () => loadRoutes(path),
      (err) => {
        assert.ok(hasCode(err, 'EC_ERR_ROUTES_INVALID'))
        const { problems } = err as unknown as { problems: string[] }
        assert.equal(problems.length, 2)
        assert.match(problems[0]!, /^routes\[0\] \(a\)\.match\.pathRegex: can backtrack catastrophically/)
        assert.equal(problems[1], 'routes[1] (a).name: "a" is already the name of routes[0]')
        return true
      },
    )
  })
})

describe('checkRoutesFile and routeFileProblems', () => {
  test('a valid file gives the router and no problems', () => {
    const path = file('ok.yaml', yaml)
    const result = checkRoutesFile(path)
    assert.ok(result.ok)
    assert.equal(result.router.match('GET', 'a', '/p/1').route.name, 'product')
    assert.deepEqual(routeFileProblems(path), [])
    assert.deepEqual(routeFileProblems(undefined), [])
  })

  test('an invalid file gives its problems; routeFileProblems names the file', () => {
    const path = file(
      'bad-tags.yaml',
      'routes:\n  - name: p\n    match: { path: /p/:id }\n    tags: ["p:{sku}"]\n',
    )
    const result = checkRoutesFile(path)
    assert.deepEqual(result.ok ? [] : result.problems, [
      'routes[0] (p).tags[0]: unknown parameter "sku" (path has: id)',
    ])
    assert.deepEqual(routeFileProblems(path), [
      `${path}: routes[0] (p).tags[0]: unknown parameter "sku" (path has: id)`,
    ])
  })

  test('an unreadable file is one problem that names it', () => {
    const path = join(dir, 'nope.yaml')
    const result = checkRoutesFile(path)
    assert.equal(result.ok, false)
    assert.match(result.ok ? '' : (result.problems[0] ?? ''), /^cannot read route file .*nope\.yaml: ENOENT/)
    assert.match(routeFileProblems(path)[0] ?? '', /^cannot read route file .*nope\.yaml: ENOENT/)
  })
})
