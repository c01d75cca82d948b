#!/usr/bin/env node
// Liveness probe for edgecache, for the container image's HEALTHCHECK (node:24-slim has
// no curl or wget). It asks GET /health on the admin listener and exits 0 on a 200, 1
// otherwise, within 2 s.
//
// The address is EDGECACHE_ADMIN__LISTEN when set (HOST:PORT, `[::1]:9091` for IPv6),
// else edgecache's default, 127.0.0.1:9091. A wildcard host (0.0.0.0, ::) is asked on
// loopback: the probe runs beside the process. An admin address set only in a config
// file is not seen here: in a container, set it with EDGECACHE_ADMIN__LISTEN.
const listen = process.env.EDGECACHE_ADMIN__LISTEN || '127.0.0.1:9091'
const at = listen.lastIndexOf(':')
let host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1')
const port = listen.slice(at + 1)
if (host === '' || host === '0.0.0.0') host = '127.0.0.1'
if (host === '::') host = '::1'
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/health`

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  if (res.status !== 200) {
    process.stderr.write(`edgecache healthcheck: ${url} answered ${res.status}\n`)
    process.exit(1)
  }
  process.exit(0)
} catch (err) {
  process.stderr.write(`edgecache healthcheck: ${url}: ${err?.cause?.code ?? err?.message ?? err}\n`)
  process.exit(1)
}
