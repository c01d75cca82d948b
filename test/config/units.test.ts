import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseDuration, parseSize } from '../../src/config/units.ts'

describe('parseSize', () => {
  const valid: [string, number][] = [
    ['512', 512],
    ['0', 0],
    ['512B', 512],
    ['64KiB', 64 * 1024],
    ['256MiB', 256 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['2TiB', 2 * 1024 ** 4],
    ['1KB', 1000],
    ['1kB', 1000],
    ['10MB', 10_000_000],
    ['1GB', 1_000_000_000],
    ['1.5KiB', 1536],
    [' 8MiB ', 8 * 1024 ** 2],
    ['8 MiB', 8 * 1024 ** 2],
  ]
  for (const [text, bytes] of valid) {
    test(`reads ${JSON.stringify(text)} as ${bytes} bytes`, () => assert.equal(parseSize(text), bytes))
  }

  const invalid = ['', 'lots', '-1', '1.5B', '1.1KiB', '10mib', '10M', '1e3', 'MiB', '1 2MiB', '0x10']
  for (const text of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseSize(text), undefined))
  }
})

describe('parseDuration', () => {
  const valid: [string, number][] = [
    ['0s', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    ['1.5s', 1500],
    ['1.005s', 1005],
    [' 4s ', 4000],
  ]
  for (const [text, ms] of valid) {
    test(`reads ${JSON.stringify(text)} as ${ms} ms`, () => assert.equal(parseDuration(text), ms))
  }

  const invalid = ['', '30', '0', 's', '-1s', '1.5ms', '10 s', '1w', '5sec', '1h 30m', '30S']
  for (const text of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseDuration(text), undefined))
  }
})
