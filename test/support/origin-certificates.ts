/**
 * Certificates made at test time with the openssl command, for the TLS suites: a private
 * CA and certificates it signs, P-256 keys, valid for a day, as PEM files in a directory
 * the caller owns (and removes). Nothing is read from or written to the system's stores.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run } from './redis.ts'

export interface TestCa {
  /** PEM file of the CA's certificate. */
  readonly cert: string
  /** Signs a certificate for `name` with these openssl extensions (`subjectAltName=...`). */
  issue(name: string, extensions: string): Promise<{ readonly cert: string; readonly key: string }>
}

/** Why the TLS suites cannot run here, or undefined when they can. */
export function opensslSkipReason(): string | undefined {
  if (existsSync('/usr/bin/openssl') || spawnSync('openssl', ['version']).status === 0) return undefined
  return 'openssl is not on PATH: apt-get install openssl'
}

/**
 * @example
 * const ca = await createTestCa(dir)
 * const server = await ca.issue('server', 'subjectAltName=DNS:origin.test\nextendedKeyUsage=serverAuth\n')
 */
export async function createTestCa(dir: string, name = 'edgecache test CA'): Promise<TestCa> {
  const file = (base: string) => join(dir, base)
  const key = (base: string) =>
    run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file(base)])
  const prefix = name.replace(/\W+/g, '-')
  const caKey = `${prefix}.key`
  const caCert = `${prefix}.crt`
  await key(caKey)
  await run('openssl', [
    ...['req', '-x509', '-new', '-key', file(caKey), '-out', file(caCert)],
    ...['-days', '1', '-subj', `/CN=${name}`],
  ])
  return {
    cert: file(caCert),
    async issue(base, extensions) {
      await key(`${base}.key`)
      await run('openssl', [
        ...['req', '-new', '-key', file(`${base}.key`), '-out', file(`${base}.csr`)],
        ...['-subj', `/CN=edgecache test ${base}`],
      ])
      await writeFile(file(`${base}.ext`), extensions)
      await run('openssl', [
        ...['x509', '-req', '-in', file(`${base}.csr`), '-CA', file(caCert), '-CAkey', file(caKey)],
        ...['-CAcreateserial', '-out', file(`${base}.crt`), '-days', '1', '-extfile', file(`${base}.ext`)],
      ])
      return { cert: file(`${base}.crt`), key: file(`${base}.key`) }
    },
  }
}
