/**
 * Routes that do not load at start end the whole process with exit code 1 and their
 * problem said once, in a line, whatever the worker count: workers started again and again
 * would meet the same file and serve nobody.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { exitCodeOf, freePort, runEdgecache } from '../support/cli.ts'

describe('routes that do not load at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-start-failure-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const unknownPool = join(dir, 'routes.yaml')
  writeFileSync(unknownPool, 'routes:\n  - name: api\n    match: { pathPrefix: /api/ }\n    upstream: api\n')

  const cases = [
    {
      name: 'a route file that is not there',
      file: join(dir, 'missing.yaml'),
      line: /cannot read route file/,
    },
    {
      name: 'a route naming an unknown pool',
      file: unknownPool,
      line: /routes\[0\] \(api\)\.upstream: unknown pool "api"/,
    },
  ]
  // No --workers: the default, one worker per CPU.
  for (const workers of [[], ['--workers', '1']]) {
    for (const c of cases) {
      test(`${c.name} ends the process with code 1 (${workers.length === 0 ? 'default workers' : '--workers 1'})`, async () => {
        const run = runEdgecache([
          'serve',
          '--upstream',
          'http://127.0.0.1:9',
          '--routes',
          c.file,
          ...workers,
          '--listen',
          `127.0.0.1:${await freePort()}`,
          '--admin-listen',
          `127.0.0.1:${await freePort()}`,
        ])
        assert.equal(await exitCodeOf(run), 1, run.err())
        const lines = run.err().trim().split('\n')
        assert.equal(lines.length, 1, run.err())
        assert.match(lines[0] ?? '', /^edgecache: /)
        assert.match(lines[0] ?? '', c.line)
        assert.doesNotMatch(run.out(), /worker exited, restarting/)
      })
    }
  }
})
