/**
 * The tag index on its own: counts and key lists as tags go from one key to many and back,
 * which the index stores differently. Store-level behaviour is in the store contract.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { TagIndex, uniqueTags } from '../../src/storage/tag-index.ts'

function counts(index: TagIndex): { tags: number; memberships: number } {
  return { tags: index.tagCount, memberships: index.memberships }
}

describe('tag index', () => {
  test('lists keys as a tag goes from one key to three and back to none', () => {
    const index = new TagIndex()
    index.add('a', ['t'])
    assert.deepEqual(index.keysOf('t'), ['a'])
    index.add('b', ['t'])
    index.add('c', ['t', 'u'])
    assert.deepEqual(index.keysOf('t').sort(), ['a', 'b', 'c'])
    assert.deepEqual(counts(index), { tags: 2, memberships: 4 })
    index.remove('a', ['t'])
    index.remove('c', ['t', 'u'])
    assert.deepEqual(index.keysOf('t'), ['b'])
    assert.deepEqual(index.keysOf('u'), [])
    index.add('d', ['t'])
    assert.deepEqual(index.keysOf('t').sort(), ['b', 'd'], 'a tag back at one key takes a second again')
    index.remove('b', ['t'])
    index.remove('d', ['t'])
    assert.deepEqual(counts(index), { tags: 0, memberships: 0 })
  })

  test('adding a key twice, or removing one that is not there, changes no count', () => {
    const index = new TagIndex()
    index.add('a', ['t'])
    index.add('a', ['t'])
    index.add('b', ['t'])
    index.add('b', ['t'])
    assert.deepEqual(counts(index), { tags: 1, memberships: 2 })
    index.remove('c', ['t', 'nothing'])
    index.remove('a', ['t'])
    index.remove('a', ['t'])
    assert.deepEqual(counts(index), { tags: 1, memberships: 1 })
    index.remove('x', ['t'])
    assert.deepEqual(index.keysOf('t'), ['b'])
  })

  test('keysOf returns a copy the caller may change', () => {
    const index = new TagIndex()
    index.add('a', ['t'])
    index.add('b', ['t'])
    const keys = index.keysOf('t')
    for (const key of keys) index.remove(key, ['t'])
    assert.equal(keys.length, 2)
    assert.deepEqual(counts(index), { tags: 0, memberships: 0 })
  })

  test('clear drops everything', () => {
    const index = new TagIndex()
    index.add('a', ['t', 'u'])
    index.clear()
    assert.deepEqual(counts(index), { tags: 0, memberships: 0 })
    assert.deepEqual(index.keysOf('t'), [])
  })

  test('uniqueTags keeps an array without repeats and drops repeats otherwise', () => {
    const tags = ['a', 'b']
    assert.equal(uniqueTags(tags), tags)
    assert.deepEqual(uniqueTags(['a', 'b', 'a']), ['a', 'b'])
    assert.deepEqual(uniqueTags(undefined), [])
    assert.deepEqual(uniqueTags([]), [])
  })
})
