/**
 * Renders docs/config.md from the schema, so the reference cannot drift from the code.
 * test/config/docs.test.ts fails when the file is stale; write-docs.ts rewrites it. Pure.
 */
import { type FieldInfo, listFields } from './schema.ts'

const preamble = `# Configuration

<!-- Generated from src/config/schema.ts; do not edit by hand.
     Regenerate with: node --import tsx src/config/write-docs.ts -->

edgecache reads its configuration from four sources. Each overrides the one before it, field by field:

1. the defaults listed below;
2. a config file, JSON (\`.json\`) or YAML (\`.yaml\`, \`.yml\`), named by \`--config FILE\` or \`EDGECACHE_CONFIG\`;
3. environment variables, \`EDGECACHE_<PATH>\`;
4. command-line flags.

The merged result is validated once and then frozen. Every problem is reported, not only the first,
each as \`path: problem\`; a value from the environment or a flag is reported under the variable's or
the flag's name instead. Unknown fields and unknown flags are errors. An unknown \`EDGECACHE_\` variable is
ignored with one warning at start (naming the closest known variable), and the variables
Kubernetes sets for a Service named \`edgecache\` (\`EDGECACHE_SERVICE_HOST\`, \`EDGECACHE_PORT\`,
\`EDGECACHE_PORT_8000_TCP\`, ...) are ignored in silence.
\`edgecache check-config FILE\` runs the same checks without starting the proxy.

## Units

- **Sizes** are bytes: \`"512"\` or \`"512B"\`, \`"64KiB"\`, \`"256MiB"\`, \`"1GiB"\` (binary, 1024),
  or \`"1KB"\`, \`"1MB"\`, \`"1GB"\` (decimal, 1000). A bare number in a file is bytes.
- **Durations** need a unit: \`"500ms"\`, \`"30s"\`, \`"10m"\`, \`"1h"\`, \`"1d"\`, \`"0s"\`, or parts in a row, as in \`"1h30m"\`.
- **HOST:PORT** is written \`0.0.0.0:8000\`, or \`[::1]:8000\` for IPv6. Port 0 picks a free port.

## Environment variables

Each field's variable is \`EDGECACHE_\` followed by its path, with \`__\` between levels and camelCase
written as SCREAMING_SNAKE: \`storage.memory.maxBytes\` is \`EDGECACHE_STORAGE__MEMORY__MAX_BYTES\`.
Numbers are converted from text, and lists are comma-separated. An empty variable counts as unset,
except that it empties a list.

- \`EDGECACHE_CONFIG\` names the config file.
- \`EDGECACHE_UPSTREAM\` is a shorter name for \`EDGECACHE_UPSTREAM__URL\`; setting both to different values is an error.
- \`--redis-url URL\` may be repeated: given once it sets \`storage.redis.url\`, several times it sets the seeds of
  \`storage.redis.cluster\`; either way it replaces the url, cluster and sentinel from the file and the environment.
- \`--redis-sentinel URL\` may be repeated: each is one of \`storage.redis.sentinel.sentinels\`, and together they
  replace the url and cluster from the file and the environment; \`--redis-sentinel-name\` sets the master name.
  \`--redis-url\` and \`--redis-sentinel\` cannot be given together.
- \`EDGECACHE_ADMIN_TOKEN\` is a shorter name for \`EDGECACHE_ADMIN__TOKENS\`: one admin token, or several
  comma-separated. Setting both to different values is an error.

## Storage drivers

\`storage.driver\` picks the backend, and with it which \`storage\` fields are allowed: each field below says
which drivers use it, and a field of another driver is an error (\`storage.redis\` under \`driver: memory\`).

- \`local\` (the default): one store in files under \`storage.local.path\`, shared by every worker of the
  instance and kept across restarts (LMDB); \`storage.local\`.
- \`memory\`: an LRU in each worker's memory, one per worker, lost on restart; \`storage.memory\`.
- \`redis\`: every response in Redis, shared by all instances; \`storage.redis\` and \`storage.memory.maxObjectBytes\`.
- \`tiered\`: the local store (L1) in front of Redis (L2); \`storage.redis\` and \`storage.local\`.

With \`redis\` and \`tiered\`, give exactly one of \`storage.redis.url\` (one server), \`storage.redis.cluster\`
(seed URLs of a Redis Cluster) and \`storage.redis.sentinel\` (a master found through Redis Sentinel: its \`name\` and
some \`sentinels\`; edgecache follows failovers by itself):

\`\`\`yaml
storage:
  driver: tiered
  redis:
    sentinel: { name: mymaster, sentinels: ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"] }
    username: edgecache            # the data nodes' ACL user; the password from EDGECACHE_STORAGE__REDIS__PASSWORD
\`\`\`

Credentials: \`storage.redis.username\` and \`storage.redis.password\` log in to the data nodes (the server, every
Cluster node, the master and replicas Sentinel names). A URL's own user info (\`redis://user:pass@host:6379\`) wins over
them for that URL; in a Cluster, the first seed's applies to every node. Sentinels take the user info of the first
sentinel URL that has any.

TLS: a \`rediss://\` scheme turns it on, for every node of the topology; all URLs of a Cluster or of the sentinels use
one scheme. \`storage.redis.tls.ca\` adds a private CA to the trusted ones, and \`storage.redis.tls.cert\` with
\`storage.redis.tls.key\` give a client certificate. The files are checked when config is loaded.

## Upstream pools

\`upstreams\` maps pool names to pools of backend servers that routes pick by name; the fields below are written
under each name (\`upstreams.app.servers\`) and are set in a config file only. \`upstream.url\` makes the pool named
\`default\`. See [backends.md](backends.md).

## WebSockets and the PROXY protocol

\`server.upgrades\` tunnels Upgrade requests (WebSockets) to the route's pool, with an idle timeout and a limit per
worker; \`server.proxyProtocol\` reads the header of a TCP load balancer on the proxy listener. See
[upgrades-and-proxy-protocol.md](upgrades-and-proxy-protocol.md).

## Secrets

Fields marked *secret* below are never repeated in a message: \`check-config\` and load errors name the
field, the entry and the problem, not the value. Prefer the environment or \`admin.tokenFile\` to
writing tokens or \`storage.redis.password\` (\`EDGECACHE_STORAGE__REDIS__PASSWORD\`) into a config file that is
checked in; a password inside a Redis URL is shown as \`***\` in messages. The tokens of \`admin.tokenFile\` are added to
\`admin.tokens\` each time config is loaded.

## Logs

Lines go to standard output, or are appended to \`log.file\`. Each finished request gets an access line at
\`info\` (\`log.access\`; \`log.accessSample\` of them, and every 5xx answer). By default it is JSON like the other
lines: \`reqId\`, \`method\`, \`host\`, \`path\`, \`route\`, \`status\`, \`cacheStatus\`, \`upstreamStatus\`, \`upstreamMs\`,
\`totalMs\` (milliseconds, to the microsecond), \`bytes\`, \`client\` and \`rules\` (the request rules that marked
it, if any), with \`level\`, \`time\`, \`pid\`, \`component\` and \`msg\`. \`log.accessFormat: combined\` writes the NCSA combined line of Apache and nginx instead
(\`client - - [time] "request line" status bytes "Referer" "User-Agent"\`, times in UTC, \`"\`, \`\\\` and bytes
outside printable ASCII as \`\\xHH\`); the other lines stay JSON. The query string, of the path and of the Referer,
is left out unless \`log.accessQuery\`; no other request header field is written. An Upgrade request (a WebSocket)
gets its line when it ends: with a tunnel, \`status\` 101, \`totalMs\` the tunnel's life, \`bytes\` sent to the
client and \`bytesIn\` received from it; with or without one, \`tunnel\` says how it ended.

Access lines are written in batches, 32 KiB or 100 ms at most, and a stop on SIGTERM or SIGINT writes them all
before the process exits. To rotate the file, move it and send SIGUSR2 to edgecache's main process: the primary
passes it on to every worker, and each process goes on in a new file at the path. With logrotate:

\`\`\`text
/var/log/edgecache/edgecache.log {
  daily
  rotate 14
  compress
  # a worker may write to the moved file until it has reopened: compress it next time
  delaycompress
  missingok
  notifempty
  postrotate
    kill -USR2 "$(systemctl show --property MainPID --value edgecache.service)"
  endscript
}
\`\`\`
`

/** Section titles, by the first key of a field's path; fields at the top level share one section. */
function sectionOf(field: FieldInfo): string {
  return field.path.length === 1 ? 'Top level' : `\`${field.path[0]}\``
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|')
}

function row(field: FieldInfo): string {
  const { meta } = field
  const shown = (text: string | undefined) => (text === undefined ? 'none' : `\`${text}\``)
  const defaultCell =
    field.defaults !== undefined
      ? field.defaults.map(([value, text]) => `${shown(text)} (${value})`).join(', ')
      : (meta.computedDefault ?? shown(meta.defaultText))
  const secret = meta.secret === true ? ' *secret*' : ''
  const doc =
    field.when === undefined ? `${meta.doc}${secret}` : `${meta.doc}${secret} (when \`${field.when}\`)`
  const cells = [
    `\`${field.path.join('.')}\``,
    meta.type,
    defaultCell,
    field.envName === '' ? '(file only)' : `\`${field.envName}\``,
    field.flag === undefined ? '' : `\`--${field.flag}\``,
    doc,
  ]
  return `| ${cells.map(cell).join(' | ')} |`
}

/**
 * The full text of docs/config.md, generated from `configSchema`.
 *
 * @example writeFileSync('docs/config.md', renderConfigDocs())
 */
export function renderConfigDocs(): string {
  const sections = new Map<string, FieldInfo[]>()
  for (const field of listFields()) {
    const title = sectionOf(field)
    sections.set(title, [...(sections.get(title) ?? []), field])
  }
  const parts = [preamble, '## Fields\n']
  for (const [title, fields] of sections) {
    parts.push(`### ${title}\n`)
    parts.push('| Field | Type | Default | Env | Flag | Description |')
    parts.push('| --- | --- | --- | --- | --- | --- |')
    parts.push(`${fields.map(row).join('\n')}\n`)
  }
  return parts.join('\n')
}
