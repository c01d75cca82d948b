import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { renderConfigDocs } from '../../src/config/docs.ts'
import { listFields } from '../../src/config/schema.ts'

test('docs/config.md matches the schema (regenerate: node --import tsx src/config/write-docs.ts)', () => {
  const onDisk = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8')
  assert.equal(onDisk, renderConfigDocs())
})

test('every leaf field has a doc line, an env name and a row in the docs', () => {
  const docs = renderConfigDocs()
  const fields = listFields()
  assert.equal(fields.length, 135)
  for (const field of fields) {
    assert.ok(field.meta.doc.length > 0, `${field.path.join('.')} has a doc line`)
    // A pool's fields sit under a name the user chooses: set in a config file only.
    if (field.path[0] === 'upstreams') assert.equal(field.envName, '')
    else assert.match(field.envName, /^EDGECACHE_[A-Z0-9_]+$/)
    assert.ok(docs.includes(`| \`${field.path.join('.')}\` |`), `${field.path.join('.')} is documented`)
  }
})

test('env names follow the path, with __ between levels and camelCase as SCREAMING_SNAKE', () => {
  const names = new Map(listFields().map((field) => [field.path.join('.'), field.envName]))
  assert.equal(names.get('listen'), 'EDGECACHE_LISTEN')
  assert.equal(names.get('upstream.url'), 'EDGECACHE_UPSTREAM__URL')
  assert.equal(names.get('storage.driver'), 'EDGECACHE_STORAGE__DRIVER')
  assert.equal(names.get('storage.memory.maxBytes'), 'EDGECACHE_STORAGE__MEMORY__MAX_BYTES')
  assert.equal(names.get('storage.local.path'), 'EDGECACHE_STORAGE__LOCAL__PATH')
  assert.equal(names.get('storage.local.maxObjectBytes'), 'EDGECACHE_STORAGE__LOCAL__MAX_OBJECT_BYTES')
  assert.equal(names.get('server.trustedProxies'), 'EDGECACHE_SERVER__TRUSTED_PROXIES')
  assert.equal(names.get('workers'), 'EDGECACHE_WORKERS')
  assert.equal(names.get('admin.tokens'), 'EDGECACHE_ADMIN__TOKENS')
  assert.equal(names.get('server.purgeMethod.allow'), 'EDGECACHE_SERVER__PURGE_METHOD__ALLOW')
  assert.equal(names.get('routes'), 'EDGECACHE_ROUTES')
})

test('secret fields are marked in the docs', () => {
  const docs = renderConfigDocs()
  const row = docs.split('\n').find((line) => line.startsWith('| `admin.tokens` |'))
  assert.match(row ?? '', /\*secret\*/)
})
