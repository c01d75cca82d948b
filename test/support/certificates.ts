/**
 * Certificates for the TLS listener's tests, made at test time with the openssl command
 * in a temp dir: a private CA, server certificates for the names asked for, and client
 * certificates (one the CA signed, one self-signed that no listener trusts).
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/** Why the TLS suites cannot run here, or undefined when they can. */
export function opensslSkipReason(): string | undefined {
  return spawnSync('openssl', ['version']).status === 0
    ? undefined
    : 'openssl is not on PATH: apt-get install openssl'
}

export interface CertificateFiles {
  readonly dir: string
  /** PEM of the CA that signed every server and client certificate but `strangerCert`. */
  readonly ca: string
  /** Server certificates by the name given to `makeCertificates`. */
  readonly servers: Readonly<Record<string, { readonly cert: string; readonly key: string }>>
  /** A client certificate the CA signed, subject `CN=edgecache test client,O=Edgecache Tests`. */
  readonly clientCert: string
  readonly clientKey: string
  /** A self-signed client certificate. */
  readonly strangerCert: string
  readonly strangerKey: string
  /** Makes one more server certificate (for a reload) under `name`. */
  server(name: string, dnsNames: readonly string[]): Promise<{ readonly cert: string; readonly key: string }>
  remove(): void
}

/**
 * @param servers name → DNS names of a server certificate (its subjectAltName, with IP:127.0.0.1).
 * @example
 * const certs = await makeCertificates({ a: ['a.test'], b: ['*.b.test'] })
 */
export async function makeCertificates(
  servers: Record<string, readonly string[]>,
): Promise<CertificateFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-certs-'))
  const file = (name: string) => join(dir, name)
  const key = (name: string) =>
    exec('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file(name)])
  await key('ca.key')
  await exec('openssl', [
    ...['req', '-x509', '-new', '-key', file('ca.key'), '-out', file('ca.crt')],
    ...['-days', '2', '-subj', '/CN=edgecache test CA'],
  ])
  let serial = 0
  const signed = async (name: string, subject: string, extensions: string) => {
    await key(`${name}.key`)
    await exec('openssl', [
      'req',
      '-new',
      '-key',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      subject,
    ])
    writeFileSync(file(`${name}.ext`), extensions)
    serial++
    await exec('openssl', [
      ...['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key')],
      ...[
        '-set_serial',
        String(serial),
        '-out',
        file(`${name}.crt`),
        '-days',
        '2',
        '-extfile',
        file(`${name}.ext`),
      ],
    ])
    return { cert: file(`${name}.crt`), key: file(`${name}.key`) }
  }
  const server = (name: string, dnsNames: readonly string[]) =>
    signed(
      `server-${name}`,
      `/CN=${dnsNames[0] ?? name}`,
      `subjectAltName=${[...dnsNames.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',')}\nextendedKeyUsage=serverAuth\n`,
    )
  const made: Record<string, { cert: string; key: string }> = {}
  for (const [name, dnsNames] of Object.entries(servers)) made[name] = await server(name, dnsNames)
  const client = await signed(
    'client',
    '/O=Edgecache Tests/CN=edgecache test client',
    'extendedKeyUsage=clientAuth\n',
  )
  await key('stranger.key')
  await exec('openssl', [
    ...['req', '-x509', '-new', '-key', file('stranger.key'), '-out', file('stranger.crt')],
    ...['-days', '2', '-subj', '/CN=stranger'],
  ])
  return {
    dir,
    ca: file('ca.crt'),
    servers: made,
    clientCert: client.cert,
    clientKey: client.key,
    strangerCert: file('stranger.crt'),
    strangerKey: file('stranger.key'),
    server,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
