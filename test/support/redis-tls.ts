/**
 * A real redis-server speaking TLS, for the rediss:// suites. Certificates are made at test
 * time with the openssl command: a private CA, a server certificate for 127.0.0.1 and
 * localhost, and a client certificate, all in a temp dir removed by `stop()`. The server
 * also keeps a plain port, used only to see that it is up.
 */
import type { ChildProcess } from 'node:child_process'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestCa, opensslSkipReason } from './origin-certificates.ts'
import { freePort } from './cli.ts'
import { kill, redisSkipReason, spawnRedis } from './redis.ts'

export interface RedisTlsServer {
  /** `rediss://127.0.0.1:<tls port>`. */
  readonly url: string
  /** PEM files: the CA that signed both certificates, and the client's certificate and key. */
  readonly files: { readonly ca: string; readonly clientCert: string; readonly clientKey: string }
  stop(): Promise<void>
}

export interface StartRedisTlsOptions {
  /** `tls-auth-clients yes`: refuse clients without a certificate from the CA. */
  readonly requireClientCert?: boolean
}

/**
 * Why the TLS suites cannot run here, or undefined when they can: redis-server missing (see
 * redisSkipReason), openssl missing, or a redis-server built without TLS.
 */
export function redisTlsSkipReason(): string | undefined {
  const redis = redisSkipReason()
  if (redis !== undefined) return redis
  const openssl = opensslSkipReason()
  if (openssl !== undefined) return openssl
  // A TLS build fails on the missing files; one without TLS does not know the directive.
  const probe = spawnSync(
    'redis-server',
    ['--port', '0', '--tls-port', '1', '--tls-cert-file', '/nonexistent', '--tls-key-file', '/nonexistent'],
    { timeout: 5_000, encoding: 'utf8' },
  )
  const output = `${probe.stdout}${probe.stderr}`
  if (output.includes('Bad directive')) return 'redis-server was built without TLS (BUILD_TLS=no)'
  return undefined
}

/**
 * Makes the certificates and starts redis-server with `--tls-port` on a free port.
 *
 * @example
 * const redis = await startRedisTls()
 * after(() => redis.stop())
 */
export async function startRedisTls(options: StartRedisTlsOptions = {}): Promise<RedisTlsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'edgecache-tls-'))
  let child: ChildProcess | undefined
  const stop = async () => {
    if (child !== undefined) await kill(child)
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const files = await makeCertificates(dir)
    const port = await freePort()
    const tlsPort = await freePort()
    child = await spawnRedis(port, [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      join(dir, 'server.crt'),
      '--tls-key-file',
      join(dir, 'server.key'),
      '--tls-ca-cert-file',
      files.ca,
      '--tls-auth-clients',
      options.requireClientCert === true ? 'yes' : 'no',
    ])
    return { url: `rediss://127.0.0.1:${tlsPort}`, files, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A CA, and a server and a client certificate it signed. */
async function makeCertificates(dir: string) {
  const ca = await createTestCa(dir)
  await ca.issue('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  const client = await ca.issue('client', 'extendedKeyUsage=clientAuth\n')
  return { ca: ca.cert, clientCert: client.cert, clientKey: client.key }
}
