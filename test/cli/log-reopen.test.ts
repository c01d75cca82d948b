/**
 * Log rotation and a clean stop with workers: the edgecache command with `log.file` and
 * `--workers 2`; the file is moved away as logrotate does, SIGUSR2 to the primary makes
 * every process write to a new file at the path, and SIGTERM loses no access line.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { freePort, proxyFlags, runEdgecache } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { startOrigin } from '../support/origin.ts'

interface Line {
  readonly msg?: string
  readonly reqId?: string
  readonly pid?: number
  readonly component?: string
}

function linesOf(file: string): Line[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line)
}

describe('log file with workers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-log-reopen-'))
  after(async () => {
    await closeClient()
    rmSync(dir, { recursive: true, force: true })
  })

  test('SIGUSR2 to the primary reopens the log file in every process; SIGTERM writes every line', async () => {
    const origin = await startOrigin()
    const [port, adminPort] = [await freePort(), await freePort()]
    const file = join(dir, 'edgecache.log')
    const run = runEdgecache([...proxyFlags(origin.url, port, adminPort), '--workers', '2'], {
      EDGECACHE_LOG__FILE: file,
    })
    try {
      // A new connection each: the primary hands them to the workers in turn.
      const get = (id: string) =>
        send(`http://127.0.0.1:${port}/r`, { headers: { connection: 'close', 'x-request-id': id } })
      // Both workers serving (and so handling SIGUSR2): /status.json sums those with a listener.
      await waitFor(async () => {
        const res = await send(`http://127.0.0.1:${adminPort}/status.json`, {
          headers: { connection: 'close' },
        }).catch(() => undefined)
        return res?.status === 200 && (JSON.parse(res.text) as { pids?: unknown[] }).pids?.length === 2
      }, 20_000)
      for (let i = 0; i < 10; i++) assert.equal((await get(`before-${i}`)).status, 200)
      await waitFor(() => linesOf(file).filter((l) => l.reqId?.startsWith('before-')).length === 10, 10_000)

      renameSync(file, `${file}.1`)
      process.kill(run.child.pid!, 'SIGUSR2')
      // Requests until both workers have written to a new file at the path; those that came
      // before a worker reopened went to the old one.
      const sent: string[] = []
      await waitFor(async () => {
        const id = `after-${sent.length}`
        assert.equal((await get(id)).status, 200)
        sent.push(id)
        const pids = new Set(linesOf(file).flatMap((l) => (l.msg === 'request' ? [l.pid] : [])))
        return pids.size === 2
      }, 20_000)

      run.child.kill('SIGTERM')
      assert.equal(await run.exited, 0, run.err())
      const rotated = linesOf(`${file}.1`)
      const current = linesOf(file)
      const ids = (lines: Line[]) => lines.flatMap((l) => (l.msg === 'request' ? [l.reqId] : []))
      assert.equal(ids(current).filter((id) => id?.startsWith('before-')).length, 0)
      assert.equal(ids(rotated).filter((id) => id?.startsWith('before-')).length, 10)
      // Every request of the run has its line, once, in one file or the other.
      assert.deepEqual(
        [...ids(rotated), ...ids(current)].filter((id) => id?.startsWith('after-')).sort(),
        [...sent].sort(),
      )
      // The primary reopened too: it said it was stopping the workers in the new file.
      assert.ok(current.some((l) => l.component === 'primary' && l.msg === 'stopping workers'))
      assert.equal(run.out(), '', 'nothing on standard output: log.file takes every line')
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL')
      await origin.close()
    }
  })
})
