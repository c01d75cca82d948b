/**
 * deploy/compose.yaml, checked without a Docker engine or Compose (neither is on this
 * machine): the files it mounts exist, edgecache's environment on top of the image's is a
 * valid config, and the ports, service names and paths that edgecache, Redis, Prometheus
 * and Grafana use to find each other agree. Starting the stack is not tested here.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { describe, test } from 'node:test'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/load.ts'
import { environmentOf, readDockerfile, repositoryRoot } from '../support/dockerfile.ts'

const deploy = posix.join(repositoryRoot, 'deploy')
const readYaml = (path: string): unknown => parse(readFileSync(posix.join(deploy, path), 'utf8'))

interface Service {
  image?: string
  build?: { context: string; dockerfile: string }
  command?: string[]
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
}

const compose = readYaml('compose.yaml') as {
  services: Record<string, Service>
  volumes: Record<string, unknown>
}
const services = compose.services
const service = (name: string): Service => {
  const found = services[name]
  assert.ok(found, `service ${name}`)
  return found
}

/**
 * Compose's variable interpolation, for the forms compose.yaml uses: `${VAR}` and
 * `${VAR:-default}`, as `docker compose config` would print them with `env` set.
 */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
    const set = env[name]
    return set !== undefined && set !== '' ? set : (fallback ?? '')
  })
}

/** `[host_ip:]host:container` → the container port, for each published port. */
function containerPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => Number(p.split(':').at(-1)))
}

/** A volume line `source:target[:ro]` → source and target. */
function mounts(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    const [source = '', target = ''] = v.split(':')
    return { source, target }
  })
}

function hostPort(address: string): { host: string; port: number } {
  const url = new URL(address.includes('://') ? address : `http://${address}`)
  return { host: url.hostname, port: Number(url.port) }
}

/** edgecache as Compose starts it: the image's environment, then the service's, then no flags. */
function edgecacheConfig() {
  const env = Object.fromEntries(
    Object.entries(service('edgecache').environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]),
  )
  return loadConfig({ env: { ...environmentOf(readDockerfile().final), ...env } })
}

describe('deploy/compose.yaml', () => {
  test('runs edgecache, Redis, Prometheus and Grafana', () => {
    assert.deepEqual(Object.keys(services).sort(), ['edgecache', 'grafana', 'prometheus', 'redis'])
  })

  test('builds edgecache from the repository’s Dockerfile', () => {
    const build = service('edgecache').build
    assert.ok(build)
    assert.ok(existsSync(posix.join(deploy, build.context, build.dockerfile)))
  })

  test('every file it mounts exists, and every named volume is declared', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const { source } of mounts(s)) {
        if (source.startsWith('.')) assert.ok(existsSync(posix.join(deploy, source)), `${name}: ${source}`)
        else assert.ok(Object.hasOwn(compose.volumes, source), `${name}: volume ${source} declared`)
      }
    }
  })

  test('edgecache’s environment is a valid config: a tiered store over the redis service, cache in the volume', () => {
    const config = edgecacheConfig()
    assert.equal(config.upstream.url, 'http://host.docker.internal:8080')
    assert.equal(config.storage.driver, 'tiered')
    if (config.storage.driver !== 'tiered') return
    const redis = hostPort(config.storage.redis.url ?? '')
    assert.equal(redis.host, 'redis')
    // redis-server's default port: the redis service's command does not change it.
    assert.equal(redis.port, 6379)
    assert.ok(!(service('redis').command ?? []).includes('--port'))
    const cache = mounts(service('edgecache')).find((m) => m.source === 'edgecache-cache')
    assert.equal(cache?.target, config.storage.local.path)
  })

  test('edgecache publishes the ports it listens on, the admin listener on the host’s loopback only', () => {
    const config = edgecacheConfig()
    const edgecache = service('edgecache')
    assert.deepEqual(containerPorts(edgecache), [config.listen.port, config.admin.listen.port])
    const admin = edgecache.ports?.find((p) => p.endsWith(`:${config.admin.listen.port}`))
    assert.match(admin ?? '', /^127\.0\.0\.1:/)
    // Reachable from the other containers (Prometheus).
    assert.equal(config.admin.listen.host, '0.0.0.0')
  })

  test('Prometheus scrapes edgecache’s admin listener, with prometheus.yml’s settings otherwise', () => {
    const prometheus = service('prometheus')
    const configFile = (prometheus.command ?? [])
      .find((a) => a.startsWith('--config.file='))
      ?.slice('--config.file='.length)
    const mounted = mounts(prometheus).find((m) => m.target === configFile)
    assert.ok(mounted, `${configFile} is mounted`)
    const scrape = readYaml(mounted.source) as {
      scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[]
    }
    const [job] = scrape.scrape_configs
    const targets = job?.static_configs.flatMap((c) => c.targets)
    assert.deepEqual(targets, [`edgecache:${edgecacheConfig().admin.listen.port}`])
    assert.equal(job?.metrics_path, '/metrics')

    // The same file as the general example, apart from the target.
    const general = readYaml('prometheus.yml') as typeof scrape
    const withoutTargets = (c: typeof scrape) => ({
      ...c,
      scrape_configs: c.scrape_configs.map((j) => ({
        ...j,
        static_configs: j.static_configs.map((s) => ({ ...s, targets: [] })),
      })),
    })
    assert.deepEqual(withoutTargets(scrape), withoutTargets(general))
  })

  test('Grafana gets the prometheus service as its default data source and the dashboard from deploy/', () => {
    const grafana = service('grafana')
    const provisioned = (path: string) => {
      const m = mounts(grafana).find((m) => m.target.startsWith(`/etc/grafana/provisioning/${path}/`))
      assert.ok(m, `${path} provisioning mounted`)
      return readYaml(m.source)
    }
    const { datasources } = provisioned('datasources') as {
      datasources: { type: string; url: string; isDefault: boolean }[]
    }
    assert.equal(datasources.length, 1)
    assert.equal(datasources[0]?.type, 'prometheus')
    assert.equal(datasources[0]?.isDefault, true)
    const prometheus = hostPort(datasources[0]?.url ?? '')
    assert.equal(prometheus.host, 'prometheus')
    assert.ok(containerPorts(service('prometheus')).includes(prometheus.port))

    const { providers } = provisioned('dashboards') as { providers: { options: { path: string } }[] }
    const dashboard = mounts(grafana).find((m) => m.source === './grafana-dashboard.json')
    assert.ok(dashboard)
    assert.equal(posix.dirname(dashboard.target), providers[0]?.options.path)
    assert.equal(grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, dashboard.target)

    // Provisioned as is: the data source comes from the dashboard's variable, whose
    // default is the default Prometheus data source; no import-time ${DS_...} inputs.
    const json = JSON.parse(readFileSync(posix.join(deploy, 'grafana-dashboard.json'), 'utf8')) as {
      __inputs?: unknown
      templating: { list: { name: string; type: string; query: string }[] }
    }
    assert.equal(json.__inputs, undefined)
    const variable = json.templating.list.find((v) => v.name === 'datasource')
    assert.deepEqual([variable?.type, variable?.query], ['datasource', 'prometheus'])
  })
})
