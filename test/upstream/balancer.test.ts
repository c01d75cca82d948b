import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Candidate, createBalancer } from '../../src/upstream/balancer.ts'

const servers = (...weights: number[]): Candidate[] =>
  weights.map((weight, i) => ({ url: `http://10.0.0.${i + 1}:8080`, weight, active: 0 }))

describe('round robin', () => {
  it('spreads weights 2:1 smoothly: a b a, never a burst of a', () => {
    const balancer = createBalancer('round-robin')
    const pool = servers(2, 1)
    const picks = Array.from({ length: 6 }, () => pool[balancer.pick(pool, '')]!.url.slice(-6, -5))
    assert.deepEqual(picks, ['1', '2', '1', '1', '2', '1'])
  })

  it('gives each server its weight’s share over a round', () => {
    const balancer = createBalancer('round-robin')
    const pool = servers(5, 3, 2)
    const counts = [0, 0, 0]
    for (let i = 0; i < 1000; i++) counts[balancer.pick(pool, '')]!++
    assert.deepEqual(counts, [500, 300, 200])
  })
})

describe('least connections', () => {
  it('picks the server with the fewest requests per weight', () => {
    const balancer = createBalancer('least-connections')
    const pool: Candidate[] = [
      { url: 'a', weight: 1, active: 3 },
      { url: 'b', weight: 2, active: 4 },
      { url: 'c', weight: 1, active: 1 },
    ]
    assert.equal(balancer.pick(pool, ''), 2)
  })

  it('takes turns among idle servers rather than always the first', () => {
    const balancer = createBalancer('least-connections')
    const pool = servers(1, 1, 1)
    const seen = new Set(Array.from({ length: 3 }, () => balancer.pick(pool, '')))
    assert.equal(seen.size, 3)
  })
})

describe('rendezvous hashing', () => {
  it('sends one key to one server every time', () => {
    const balancer = createBalancer('hash')
    const pool = servers(1, 1, 1)
    for (let k = 0; k < 100; k++) {
      const first = balancer.pick(pool, `key-${k}`)
      for (let i = 0; i < 5; i++) assert.equal(balancer.pick(pool, `key-${k}`), first)
    }
  })

  it('spreads keys by weight, and moves only the keys of a server that leaves', () => {
    const balancer = createBalancer('hash')
    const pool = servers(2, 1, 1)
    const before = new Map<string, string>()
    const counts = new Map<string, number>()
    for (let k = 0; k < 4000; k++) {
      const url = pool[balancer.pick(pool, `/p/${k}`)]!.url
      before.set(`/p/${k}`, url)
      counts.set(url, (counts.get(url) ?? 0) + 1)
    }
    // 2:1:1 → 2000, 1000, 1000, within 10%
    assert.ok(
      Math.abs(counts.get(pool[0]!.url)! - 2000) < 200,
      `heavy server got ${counts.get(pool[0]!.url)}`,
    )
    assert.ok(
      Math.abs(counts.get(pool[1]!.url)! - 1000) < 100,
      `light server got ${counts.get(pool[1]!.url)}`,
    )
    const without = [pool[0]!, pool[2]!]
    for (const [key, url] of before) {
      const now = without[balancer.pick(without, key)]!.url
      if (url !== pool[1]!.url) assert.equal(now, url, `${key} stayed where it was`)
    }
  })
})
