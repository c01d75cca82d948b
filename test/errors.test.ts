/** docs/errors.md and the catalogue in src/errors.ts list the same codes, statuses and messages. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { EdgecacheError, errorCatalogue, hasCode } from '../src/errors.ts'

test('docs/errors.md lists every code of the catalogue, and only those', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
  const rows = new Map<string, { status: string; message: string }>()
  for (const line of doc.split('\n')) {
    const match = /^\| `(EC_ERR_[A-Z_]+)` \| ([^|]*) \| `([^`]*)` \|/.exec(line)
    if (match) rows.set(match[1]!, { status: match[2]!.trim(), message: match[3]! })
  }
  const catalogue = new Map(
    Object.entries(errorCatalogue).map(([code, def]) => [
      code,
      { status: 'status' in def ? String(def.status) : '—', message: def.message },
    ]),
  )
  assert.deepEqual(rows, catalogue)
})

test('an EdgecacheError fills its message template and carries its status', () => {
  const err = new EdgecacheError('EC_ERR_REQUEST_BODY_TOO_LARGE', [1024])
  assert.equal(err.message, 'request body larger than 1024 bytes')
  assert.equal(err.status, 413)
  assert.equal(hasCode(err, 'EC_ERR_REQUEST_BODY_TOO_LARGE'), true)
  assert.equal(hasCode(new Error('x'), 'EC_ERR_REQUEST_BODY_TOO_LARGE'), false)
})
