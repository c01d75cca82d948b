/**
 * The npm package as a user gets it: `npm pack` (which runs `prepare`, the build), the
 * tarball installed into an empty folder, and `edgecache` started from that folder's
 * node_modules/.bin, serving a miss and then a hit. Dependencies come from npm's cache
 * when it has them (`--prefer-offline`), else from the registry.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { freePort } from '../support/cli.ts'
import { closeClient, send, waitFor } from '../support/client.ts'
import { repositoryRoot } from '../support/dockerfile.ts'
import { type HealthcheckResult, runHealthcheck } from '../support/healthcheck.ts'
import { startOrigin } from '../support/origin.ts'

/** Node 24 first on PATH: bin/edgecache runs `env node`, and npm runs under it. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`

function npm(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      args,
      { cwd, env: { ...process.env, PATH }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`npm ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    )
  })
}

/** The relative links of a markdown file, without their #anchors. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => (m[1] as string).split('#')[0] as string)
    .filter((link) => link !== '' && !/^[a-z]+:/.test(link))
}

describe('the npm package', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-pack-'))
  const app = join(dir, 'app')
  const pkg = JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8')) as { version: string }
  let files: Set<string>
  const running: ChildProcess[] = []

  before(async () => {
    const out = await npm(['pack', '--json', '--pack-destination', dir], repositoryRoot)
    // The build's own output may come first; the JSON report is the array that ends it.
    const [report] = JSON.parse(out.slice(out.search(/^\[/m))) as {
      filename: string
      files: { path: string }[]
    }[]
    assert.ok(report)
    files = new Set(report.files.map((f) => f.path))
    mkdirSync(app)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'edgecache-user', private: true }))
    await npm(
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=dev', join(dir, report.filename)],
      app,
    )
  })

  after(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL')
    await closeClient()
    rmSync(dir, { recursive: true, force: true })
  })

  test('carries the build, docs/ and deploy/, and every file the READMEs link to', () => {
    for (const path of ['bin/edgecache', 'dist/main.js', 'docs/config.md', 'deploy/README.md', 'README.md']) {
      assert.ok(files.has(path), path)
    }
    for (const readme of ['README.md', 'deploy/README.md']) {
      const links = relativeLinks(readFileSync(join(repositoryRoot, readme), 'utf8'))
      assert.ok(links.length > 0, `${readme} has links`)
      for (const link of links) {
        const path = posix.normalize(posix.join(posix.dirname(readme), link))
        assert.ok(files.has(path) || [...files].some((f) => f.startsWith(`${path}/`)), `${readme} → ${link}`)
      }
    }
    assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests')
  })

  test('edgecache installed from the tarball prints its version', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(join(app, 'node_modules/.bin/edgecache'), ['--version'], { env: { PATH } }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    )
    assert.equal(out.trim(), `edgecache ${pkg.version}`)
  })

  test('edgecache installed from the tarball serves a miss, then a hit, and stops on SIGTERM', async () => {
    const origin = await startOrigin()
    const cacheDir = join(dir, 'cache')
    const [port, adminPort] = [await freePort(), await freePort()]
    const adminListen = `127.0.0.1:${adminPort}`
    const child = spawn(
      join(app, 'node_modules/.bin/edgecache'),
      ['--upstream', origin.url, '--listen', `127.0.0.1:${port}`, '--admin-listen', adminListen],
      // Flags and variables as a user would give them.
      {
        cwd: app,
        env: { PATH, EDGECACHE_WORKERS: '1', EDGECACHE_STORAGE__LOCAL__PATH: cacheDir },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    running.push(child)
    let stderr = ''
    child.stderr?.on('data', (d) => {
      stderr += d
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      // The package's own HEALTHCHECK script says when it is up.
      const healthcheck = join(app, 'node_modules/edgecache/deploy/healthcheck.mjs')
      assert.ok(existsSync(healthcheck))
      let last: HealthcheckResult | undefined
      await waitFor(async () => {
        last = await runHealthcheck(healthcheck, adminListen)
        return last.code === 0 || child.exitCode !== null
      }, 30_000)
      assert.equal(last?.code, 0, `${last?.stderr}\n${stderr}`)

      const get = () => send(`http://127.0.0.1:${port}/packaged`)
      const first = await get()
      assert.equal(first.text, 'hello')
      assert.match(first.header('cache-status') ?? '', /fwd=uri-miss/)
      const second = await get()
      assert.match(second.header('cache-status') ?? '', /; hit/)
      assert.equal(origin.count('/packaged'), 1)
      assert.ok(existsSync(cacheDir), 'the cache directory given is used')

      await closeClient()
      assert.ok(child.pid !== undefined && process.kill(child.pid, 'SIGTERM'))
      assert.equal(await exited, 0)
    } finally {
      await origin.close()
    }
  })
})
