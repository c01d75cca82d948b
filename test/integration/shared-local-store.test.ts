/**
 * One cache for every worker: the edgecache command with two workers and the default store,
 * requests on new connections as curl makes them (so the primary spreads them over both
 * workers). A soft purge serves stale on every worker, a response that arrived stale is
 * refreshed by no worker within the refresh interval, concurrent misses (and concurrent
 * revalidations) on different workers make one origin request, a restart keeps what was stored, a second instance on
 * the same directory is refused, and a damaged store is set aside.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { closeClient, send, waitFor } from '../support/client.ts'
import { freePort, runEdgecache } from '../support/cli.ts'
import { startOrigin } from '../support/origin.ts'
import { startTwoWorkers } from '../support/workers.ts'

const token = 'shared-store-token-0001'

describe('one local store for every worker', () => {
  const running: ChildProcess[] = []
  const dirs: string[] = []
  const cacheDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgecache-shared-'))
    dirs.push(dir)
    return dir
  }
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  const purge = (adminPort: number, body: object) =>
    send(`http://127.0.0.1:${adminPort}/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify(body),
    })

  test('a soft purge answered by one worker serves stale on every worker', async () => {
    // The refresh a stale answer starts never gets an answer, so every later request is
    // answered from the soft-purged entry, whichever worker takes it.
    const origin = await startOrigin((req, res) => {
      if (req.url !== '/s') return void res.end('warm')
      if (origin.count('/s') > 1) return
      res.writeHead(200, {
        'cache-control': 'max-age=600, stale-while-revalidate=600',
        'surrogate-key': 'soft',
      })
      res.end('v1')
    })
    const workers = await startTwoWorkers(origin, { EDGECACHE_ADMIN_TOKEN: token })
    running.push(workers.child)
    try {
      await workers.warm(origin, '/s')
      const purged = await purge(workers.adminPort, { tags: ['soft'], soft: true })
      assert.equal(purged.status, 200)
      assert.equal(JSON.parse(purged.text).purged, 1)
      for (let i = 0; i < 6; i++) {
        const res = await workers.get('/s')
        assert.equal(res.text, 'v1')
        assert.match(
          String(res.headers['cache-status']),
          /hit; .*detail=stale-while-revalidate/,
          `request ${i}`,
        )
      }
      workers.child.kill('SIGTERM')
      await workers.exited
    } finally {
      await origin.close()
    }
  })

  test('a response that arrived stale is not refreshed by any worker within cache.refreshInterval', async () => {
    // Stale on arrival (Age past max-age): a refresh could not make it fresh. The interval
    // counts from its arrival in the shared store, so no worker refreshes it within an hour.
    const origin = await startOrigin((req, res) => {
      if (req.url !== '/r') return void res.end('warm')
      res.writeHead(200, { 'cache-control': 'max-age=1, stale-while-revalidate=86400', age: '2' })
      res.end('r')
    })
    const workers = await startTwoWorkers(origin, { EDGECACHE_CACHE__REFRESH_INTERVAL: '1h' })
    running.push(workers.child)
    try {
      await workers.warm(origin, '/r')
      for (let i = 0; i < 8; i++) {
        const res = await workers.get('/r')
        assert.match(
          String(res.headers['cache-status']),
          /hit; .*detail=stale-while-revalidate/,
          `request ${i}`,
        )
      }
      assert.equal(origin.count('/r'), 1, 'no background refresh within the interval')
      workers.child.kill('SIGTERM')
      await workers.exited
    } finally {
      await origin.close()
    }
  })

  test('concurrent misses for one URL on different workers make one origin request', async () => {
    const origin = await startOrigin((_req, res) => {
      // Slow enough that the requests below all arrive while the first is being fetched.
      setTimeout(() => {
        res.writeHead(200, { 'cache-control': 'max-age=600' })
        res.end('once')
      }, 500)
    })
    const workers = await startTwoWorkers(origin)
    running.push(workers.child)
    try {
      await workers.warm(origin, '/warmed')
      const answers = await Promise.all(Array.from({ length: 8 }, () => workers.get('/c')))
      for (const res of answers) assert.equal(res.text, 'once')
      assert.equal(origin.count('/c'), 1)
      workers.child.kill('SIGTERM')
      await workers.exited
    } finally {
      await origin.close()
    }
  })

  test('concurrent revalidations of one stored response on different workers send one conditional request', async () => {
    let conditional = 0
    const origin = await startOrigin((req, res) => {
      const headers = { 'cache-control': 'max-age=60', etag: '"v1"' }
      if (req.headers['if-none-match'] === undefined) {
        // Already older than its lifetime: stored stale, so the next request revalidates it.
        res.writeHead(200, { ...headers, age: '120' })
        res.end('stored once')
        return
      }
      conditional++
      // Fresh again once validated. Slow enough that the requests below all arrive while
      // the first is being asked.
      setTimeout(() => res.writeHead(304, headers).end(), 500)
    })
    const workers = await startTwoWorkers(origin)
    running.push(workers.child)
    try {
      await workers.warm(origin, '/warmed')
      assert.equal((await workers.get('/r')).text, 'stored once')
      const answers = await Promise.all(Array.from({ length: 8 }, () => workers.get('/r')))
      for (const res of answers) assert.equal(res.text, 'stored once')
      assert.equal(conditional, 1)
      workers.child.kill('SIGTERM')
      await workers.exited
    } finally {
      await origin.close()
    }
  })

  test('a restarted instance answers from what it stored, and a second one on its directory is refused', async () => {
    const origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end('kept')
    })
    const env = { EDGECACHE_STORAGE__LOCAL__PATH: cacheDir() }
    try {
      const before = await startTwoWorkers(origin, env)
      running.push(before.child)
      await before.warm(origin, '/r')
      const stored = Date.now()

      // Same directory, another instance: refused, naming the directory and the holder.
      const second = runEdgecache(
        ['--upstream', origin.url, '--listen', `127.0.0.1:${await freePort()}`, '--workers', '1'],
        env,
      )
      assert.equal(await second.exited, 1)
      assert.match(
        second.err(),
        new RegExp(
          `cache directory .*${env.EDGECACHE_STORAGE__LOCAL__PATH}.* is in use by edgecache process ${before.child.pid}`,
        ),
      )

      before.child.kill('SIGTERM')
      assert.equal(await before.exited, 0)

      const after = await startTwoWorkers(origin, env, { port: before.port, adminPort: before.adminPort })
      running.push(after.child)
      await waitFor(async () => {
        try {
          return (await after.get('/warm')).status === 200
        } catch {
          return false
        }
      }, 20_000)
      const res = await after.get('/r')
      assert.equal(res.text, 'kept')
      assert.match(String(res.headers['cache-status']), /; hit/)
      const age = Number(res.headers.age)
      assert.ok(age >= 0 && age <= Math.ceil((Date.now() - stored) / 1000) + 1, `age ${age}`)
      assert.equal(origin.count('/r'), 1)
      after.child.kill('SIGTERM')
      assert.equal(await after.exited, 0)
    } finally {
      await origin.close()
    }
  })

  test('a damaged store is set aside with one log line, and the proxy starts empty', async () => {
    const origin = await startOrigin()
    const dir = cacheDir()
    mkdirSync(join(dir, 'store'), { recursive: true })
    writeFileSync(join(dir, 'store', 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a))
    try {
      const workers = await startTwoWorkers(origin, { EDGECACHE_STORAGE__LOCAL__PATH: dir })
      running.push(workers.child)
      await workers.warm(origin, '/d')
      const again = await workers.get('/d')
      assert.match(String(again.headers['cache-status']), /; hit/)
      const lines = workers
        .output()
        .split('\n')
        .filter((line) => line.includes('set aside'))
      assert.equal(lines.length, 1, workers.output())
      workers.child.kill('SIGTERM')
      assert.equal(await workers.exited, 0)
    } finally {
      await origin.close()
    }
  })
})
