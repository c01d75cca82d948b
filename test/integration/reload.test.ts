/**
 * Reloading a running instance with the default two workers: SIGHUP to the primary and
 * `POST /reload` change the live fields in every worker, say which changed fields need a
 * restart, and refuse an invalid config as a whole; `POST /routes/reload` reaches every
 * worker; and a route file swapped as a Kubernetes ConfigMap swaps it (a `..data` symlink)
 * is picked up by every worker.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { closeClient, type Reply, send, waitFor } from '../support/client.ts'
import { type Origin, startOrigin } from '../support/origin.ts'
import { startProxy } from '../support/proxy.ts'
import { startTwoWorkers, type TwoWorkers } from '../support/workers.ts'

const first = 'reload-test-token-first-01'
const second = 'reload-test-token-second-2'

function configText(fields: { token: string; name: string; connections?: number; routes: string }): string {
  return [
    `routes: ${fields.routes}`,
    `admin: { tokens: ["${fields.token}"] }`,
    `cache: { name: ${fields.name} }`,
    `upstream: { connections: ${fields.connections ?? 128} }`,
    '',
  ].join('\n')
}

const routesText = (name: string) => `routes:\n  - name: ${name}\n    match: { pathPrefix: / }\n`

describe('reload with two workers', () => {
  let origin: Origin
  let workers: TwoWorkers
  let dir: string
  let configFile: string
  let routesLink: string
  const running: ChildProcess[] = []

  before(async () => {
    origin = await startOrigin()
    dir = mkdtempSync(join(tmpdir(), 'edgecache-reload-'))
    // The route file as a ConfigMap mounts it: routes.yaml -> ..data/routes.yaml, ..data -> v1.
    mkdirSync(join(dir, 'v1'))
    writeFileSync(join(dir, 'v1', 'routes.yaml'), routesText('first'))
    symlinkSync('v1', join(dir, '..data'))
    routesLink = join(dir, 'routes.yaml')
    symlinkSync(join('..data', 'routes.yaml'), routesLink)
    configFile = join(dir, 'edgecache.yaml')
    writeFileSync(configFile, configText({ token: first, name: 'edgecache', routes: routesLink }))
    workers = await startTwoWorkers(origin, { EDGECACHE_CONFIG: configFile })
    running.push(workers.child)
    await workers.warm(origin, '/page')
  })
  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
    await origin.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /**
   * `count` answers on new connections, and the workers that gave them (the request id
   * starts with a prefix of each process's own).
   */
  async function sample(path: string, count = 8) {
    const answers: Reply[] = []
    const pids = () => new Set(answers.map((a) => String(a.headers['x-request-id']).split('-')[0]))
    // The kernel gives each new connection to a worker by a hash of its addresses, so eight
    // can all land on one (1 in 128): more are sent until both workers have answered.
    while (answers.length < count || (pids().size < 2 && answers.length < 40))
      answers.push(await workers.get(path))
    return { answers, workers: pids().size }
  }

  const reload = (path: string, token: string) =>
    send(`http://127.0.0.1:${workers.adminPort}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, connection: 'close' },
    })

  const purgeStatus = async (token: string) =>
    (
      await send(`http://127.0.0.1:${workers.adminPort}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: '{"tags":["none"],"dryRun":true}',
      })
    ).status

  test('POST /reload applies live fields in every worker and names those that need a restart', async () => {
    writeFileSync(
      configFile,
      configText({ token: second, name: 'edge-two', connections: 64, routes: routesLink }),
    )
    const res = await reload('/reload', first)
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(JSON.parse(res.text), {
      reloaded: true,
      workers: 2,
      of: 2,
      restartNeeded: ['upstream.connections'],
      problems: [],
      routes: 1,
    })
    const { answers, workers: seen } = await sample('/page')
    assert.equal(seen, 2, 'both workers answered')
    for (const answer of answers) assert.match(String(answer.headers['cache-status']), /^edge-two; hit/)
    // The token in force changed in every worker: the old one is refused, the new one taken.
    for (let i = 0; i < 4; i++) {
      assert.equal(await purgeStatus(first), 401)
      assert.equal(await purgeStatus(second), 200)
    }
  })

  test('an invalid config is refused as a whole: 422 with the problem, and what is in force stays', async () => {
    writeFileSync(
      configFile,
      `${configText({ token: first, name: 'edge-three', routes: routesLink })}nope: 1\n`,
    )
    const res = await reload('/reload', second)
    assert.equal(res.status, 422, res.text)
    const report = JSON.parse(res.text) as { reloaded: boolean; workers: number; problems: string[] }
    assert.equal(report.reloaded, false)
    assert.equal(report.workers, 0)
    assert.deepEqual(report.problems, ['nope: unknown field'])
    const { answers } = await sample('/page', 4)
    for (const answer of answers) assert.match(String(answer.headers['cache-status']), /^edge-two; hit/)
    assert.equal(await purgeStatus(second), 200)
  })

  test('SIGHUP to the primary reloads every worker', async () => {
    writeFileSync(configFile, configText({ token: first, name: 'edge-four', routes: routesLink }))
    workers.child.kill('SIGHUP')
    // The config file is not watched: only the signal can have changed the name.
    await waitFor(async () => {
      const { answers, workers: seen } = await sample('/page', 4)
      return seen === 2 && answers.every((a) => /^edge-four; hit/.test(String(a.headers['cache-status'])))
    }, 10_000)
    assert.equal(await purgeStatus(first), 200)
  })

  test('POST /routes/reload reloads the route file in every worker', async () => {
    const res = await reload('/routes/reload', first)
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(JSON.parse(res.text), {
      reloaded: true,
      workers: 2,
      of: 2,
      restartNeeded: [],
      problems: [],
      routes: 1,
    })
  })

  test('a route file swapped through a ..data symlink reaches every worker', async () => {
    mkdirSync(join(dir, 'v2'))
    writeFileSync(join(dir, 'v2', 'routes.yaml'), `${routesText('second')}    cache: { bypass: true }\n`)
    // As the kubelet does it: a new symlink renamed over ..data, one atomic step.
    symlinkSync('v2', join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    // The new route bypasses the cache: every worker says so once it has the file.
    await waitFor(async () => {
      const { answers, workers: seen } = await sample('/page', 4)
      return seen === 2 && answers.every((a) => /fwd=bypass/.test(String(a.headers['cache-status'])))
    }, 10_000)
  })
})

describe('reload of the backend timeouts', () => {
  test('upstream.headersTimeout changes on reload, with no restart', async () => {
    const origin = await startOrigin(async (_req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      res.writeHead(200, { 'cache-control': 'no-store' })
      res.end('late')
    })
    const env: Record<string, string> = { EDGECACHE_UPSTREAM__HEADERS_TIMEOUT: '30s' }
    const proxy = await startProxy({ upstream: origin.url, env })
    try {
      assert.equal((await send(`${proxy.url}/slow`)).status, 200)
      env.EDGECACHE_UPSTREAM__HEADERS_TIMEOUT = '200ms'
      const report = await proxy.app.reload('config', 'admin')
      assert.equal(report.reloaded, true)
      assert.deepEqual(report.restartNeeded, [])
      assert.equal((await send(`${proxy.url}/slow`)).status, 504)
    } finally {
      await proxy.close()
      await origin.close()
    }
  })
})
