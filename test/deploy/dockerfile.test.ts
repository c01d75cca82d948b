/**
 * The Dockerfile, checked without a Docker engine (none runs on this machine): it lints
 * clean, every file it copies exists and is in the build context, the program it starts is
 * what the build makes, it runs as an unprivileged user with the cache directory as a
 * volume, its environment is a valid config, and its HEALTHCHECK script gets 200 from a real
 * edgecache's admin listener started with that environment. Building the image and running
 * it are not tested here.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { after, describe, test } from 'node:test'
import type { Instruction } from 'dockerfile-ast'
import { validate } from 'dockerfile-utils'
import { parseArgs } from '../../src/cli/args.ts'
import { loadConfig } from '../../src/config/load.ts'
import { freePort, runEdgecache } from '../support/cli.ts'
import { waitFor } from '../support/client.ts'
import {
  argsOf,
  copies,
  environmentOf,
  execForm,
  only,
  provenance as provenanceIn,
  readDockerfile,
  repositoryRoot as root,
  type Stage,
  workdirAt,
} from '../support/dockerfile.ts'
import { type HealthcheckResult, runHealthcheck } from '../support/healthcheck.ts'
import { startOrigin } from '../support/origin.ts'

const read = (path: string) => readFileSync(posix.join(root, path), 'utf8')
const { text, stages: all, final } = readDockerfile()
const args = argsOf
const provenance = (path: string) => provenanceIn(final, path)

const buildConfig = JSON.parse(read('tsconfig.build.json')) as {
  compilerOptions: { outDir: string; rootDir: string }
}

/** The config the image's environment and CMD give, with a backend named as a user would. */
function imageConfig() {
  const env = environmentOf(final)
  const parsed = parseArgs(execForm(only(final, 'CMD')[0]?.getArgumentsContent() ?? null))
  const config = loadConfig({
    env: { ...env, EDGECACHE_UPSTREAM: 'http://backend:8080' },
    flags: parsed.flags,
  })
  const { storage } = config
  const cacheDirectory =
    storage.driver === 'local' || storage.driver === 'tiered' ? storage.local.path : undefined
  return { env, command: parsed.command, config, cacheDirectory }
}

describe('Dockerfile', () => {
  test('dockerfile-utils (the linter behind editors’ Dockerfile checks) finds no problem', () => {
    assert.deepEqual(
      validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    )
  })

  test('every stage starts from Node 24 slim, the Node that package.json asks for', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node
    assert.equal(engines, '>=24')
    assert.ok(all.length >= 2, 'multi-stage')
    for (const stage of all) assert.equal(stage.image, 'node:24-slim', stage.name ?? 'final stage')
  })

  test('the build context (.dockerignore, an allow-list) is exactly what the COPY lines take, and each exists', () => {
    const fromContext = new Set(
      all.flatMap((s) => copies(s).filter((c) => c.from === undefined)).map((c) => c.source),
    )
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
    assert.equal(lines[0], '*', 'everything is left out first')
    assert.deepEqual(new Set(lines.slice(1).map((l) => l.replace(/^!/, ''))), fromContext)
    for (const source of fromContext) assert.ok(existsSync(posix.join(root, source)), `${source} exists`)
  })

  test('COPY --from names an earlier stage, and the build stage makes dist/ with npm run build', () => {
    const names = all.map((s) => s.name)
    for (const [i, stage] of all.entries()) {
      for (const c of copies(stage).filter((c) => c.from !== undefined)) {
        assert.ok(names.slice(0, i).includes(c.from), `${c.from} is an earlier stage`)
      }
    }
    const dist = provenance('/app/dist')
    const build = all.find((s) => s.name === dist.copied.from) as Stage
    const run = only(build, 'RUN').find((i) => i.getArgumentsContent() === 'npm run build') as Instruction
    assert.ok(run, 'the build stage runs npm run build')
    assert.equal(dist.copied.source, posix.join(workdirAt(build, run), buildConfig.compilerOptions.outDir))
    const deps = provenance('/app/node_modules')
    const install = only(all.find((s) => s.name === deps.copied.from) as Stage, 'RUN').map((i) => args(i))
    assert.ok(
      install.some((words) => words.includes('ci') && words.includes('--omit=dev')),
      'production dependencies only',
    )
  })

  test('it starts dist/main.js, which the build compiles from src/main.ts, beside package.json', () => {
    const entry = execForm(only(final, 'ENTRYPOINT')[0]?.getArgumentsContent() ?? null)
    assert.equal(entry[0], 'node')
    const program = entry[1] as string
    const { copied, rest } = provenance(program)
    const build = all.find((s) => s.name === copied.from) as Stage
    const made = only(build, 'RUN').find((i) => i.getArgumentsContent() === 'npm run build') as Instruction
    assert.equal(copied.source, posix.join(workdirAt(build, made), buildConfig.compilerOptions.outDir))
    const source = posix.join(buildConfig.compilerOptions.rootDir, rest.replace(/\.js$/, '.ts'))
    assert.equal(source, 'src/main.ts')
    assert.ok(existsSync(posix.join(root, source)))
    // main.ts reads its version from the package.json beside dist/.
    assert.equal(
      provenance(posix.join(posix.dirname(posix.dirname(program)), 'package.json')).copied.source,
      'package.json',
    )
  })

  test('it runs as an unprivileged user, with the cache directory as a volume', () => {
    const users = only(final, 'USER').map((i) => args(i)[0])
    assert.deepEqual(users, ['node'])
    const user = only(final, 'USER')[0] as Instruction
    const entry = only(final, 'ENTRYPOINT')[0] as Instruction
    assert.ok(final.instructions.indexOf(user) < final.instructions.indexOf(entry))
    const volumes = only(final, 'VOLUME').flatMap((i) => execForm(i.getArgumentsContent()))
    assert.deepEqual(volumes, [imageConfig().cacheDirectory])
  })

  test('its environment and CMD are a valid serve config: proxy on the exposed port, cache in the volume, admin on loopback', () => {
    const { command, config, cacheDirectory } = imageConfig()
    assert.equal(command, 'serve')
    assert.equal(config.storage.driver, 'local')
    assert.equal(cacheDirectory, '/var/cache/edgecache')
    assert.deepEqual(
      only(final, 'EXPOSE').flatMap((i) => args(i)),
      [String(config.listen.port)],
    )
    // Not exposed: the admin listener answers inside the container only (the HEALTHCHECK).
    assert.equal(config.admin.listen.host, '127.0.0.1')
  })

  describe('HEALTHCHECK', () => {
    const cleanup: (() => unknown)[] = []
    after(async () => {
      for (const f of cleanup.reverse()) await f()
    })

    const healthcheck = () => {
      const [instruction] = only(final, 'HEALTHCHECK')
      const content = (instruction?.getArgumentsContent() ?? '').replace(/^CMD\s+/, '')
      const [node, script] = execForm(content)
      assert.equal(node, 'node')
      const { copied } = provenance(script as string)
      assert.equal(copied.from, undefined, 'copied from the repository')
      return posix.join(root, copied.source)
    }

    test('asks /health on the admin listener that the image environment configures', async () => {
      const script = healthcheck()
      assert.match(readFileSync(script, 'utf8'), /\/health`/)
      const origin = await startOrigin()
      cleanup.push(() => origin.close())
      const [port, adminPort] = [await freePort(), await freePort()]
      const { env } = imageConfig()
      // The image's environment, but on loopback ports and a temporary cache directory.
      const { EDGECACHE_STORAGE__LOCAL__PATH: _volume, ...rest } = env
      const adminListen = `127.0.0.1:${adminPort}`
      const r = runEdgecache(['serve', '--workers', '1'], {
        ...rest,
        EDGECACHE_LISTEN: `127.0.0.1:${port}`,
        EDGECACHE_ADMIN__LISTEN: adminListen,
        EDGECACHE_UPSTREAM: origin.url,
      })
      cleanup.push(() => r.child.exitCode === null && r.child.kill('SIGKILL'))

      // Docker retries a failing check until the start period ends: so does this.
      let last: HealthcheckResult | undefined
      await waitFor(async () => {
        last = await runHealthcheck(script, adminListen)
        return last.code === 0 || r.child.exitCode !== null
      }, 30_000)
      assert.equal(last?.code, 0, `${last?.stderr}\n${r.err()}`)

      r.child.kill('SIGTERM')
      assert.equal(await r.exited, 0)
      const down = await runHealthcheck(script, adminListen)
      assert.equal(down.code, 1)
      assert.match(down.stderr, /ECONNREFUSED/)
    })
  })
})
