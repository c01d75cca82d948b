/**
 * The TLS listener's certificates: reads the PEM files, makes one secure context per
 * certificate with the listener's protocol versions and ciphers, and picks the context for
 * a client's SNI name from the DNS names each certificate carries. Holds no socket; a
 * reload builds a new set and the listener swaps it in for new handshakes only.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls'
import { ProblemsError } from '../errors.ts'

/**
 * TLS 1.2's suites, all with forward secrecy and an AEAD, as Mozilla's "intermediate"
 * profile lists them; TLS 1.3's own five suites are always on (OpenSSL configures them
 * apart, and all are modern).
 */
export const modernCiphers = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** What every context of the listener has in common: versions, ciphers, curves. */
export const contextDefaults: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: modernCiphers,
  ecdhCurve: 'X25519:prime256v1:secp384r1',
}

/** A certificate and its key, as PEM file paths, and the config field that names them. */
export interface CertificateSource {
  readonly cert: string
  readonly key: string
  /** For messages: `tls` or `tls.certificates[1]`. */
  readonly field: string
}

/** The PEM texts of one loaded set, for `server.setSecureContext` and the listener's options. */
export interface CertificatePem {
  readonly cert: string
  readonly key: string
  readonly ca: string | undefined
}

export interface CertificateSet {
  /** The context for a client's SNI name: an exact DNS name, else a wildcard, else the first. */
  contextFor(servername: string): SecureContext
  /** The first certificate's PEM and the client CAs: the context of clients without SNI. */
  readonly defaultPem: CertificatePem
  /** The DNS names each certificate answers for, in order (for the start-up log line). */
  readonly names: readonly (readonly string[])[]
}

/**
 * Reads every certificate and key and makes their contexts.
 *
 * @throws ProblemsError `EC_ERR_CONFIG_INVALID` naming the field when a file cannot be
 *   read or a key does not fit its certificate. No message quotes a file's content.
 * @example
 * const set = loadCertificates([{ cert: 'site.pem', key: 'site.key', field: 'tls' }], undefined)
 * set.contextFor('www.example.com')
 */
export function loadCertificates(
  sources: readonly CertificateSource[],
  clientCa: string | undefined,
): CertificateSet {
  if (sources.length === 0) throw invalid('tls', 'expected at least one certificate')
  const ca = clientCa === undefined ? undefined : read('tls.clientCa', clientCa)
  const exact = new Map<string, SecureContext>()
  const wildcard = new Map<string, SecureContext>()
  const names: string[][] = []
  const contexts: SecureContext[] = []
  let defaultPem: CertificatePem | undefined
  for (const source of sources) {
    const cert = read(`${source.field}.cert`, source.cert)
    const key = read(`${source.field}.key`, source.key)
    let context: SecureContext
    let dnsNames: string[]
    try {
      dnsNames = dnsNamesOf(new X509Certificate(cert))
    } catch {
      throw invalid(`${source.field}.cert`, `not a PEM certificate: ${source.cert}`)
    }
    try {
      context = createSecureContext({ ...contextDefaults, cert, key, ...(ca === undefined ? {} : { ca }) })
    } catch (err) {
      // OpenSSL's reason ("key values mismatch", "bad decrypt"), never the key.
      const reason = (err as { reason?: string }).reason ?? (err as { code?: string }).code ?? 'unusable'
      throw invalid(`${source.field}.key`, `does not fit ${source.cert} (${reason})`)
    }
    defaultPem ??= { cert, key, ca }
    contexts.push(context)
    names.push(dnsNames)
    for (const name of dnsNames) {
      // The first certificate naming a host wins, as in file order.
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), context)
      } else if (!exact.has(name)) exact.set(name, context)
    }
  }
  const first = contexts[0] as SecureContext
  return {
    defaultPem: defaultPem as CertificatePem,
    names,
    contextFor(servername) {
      const name = servername.toLowerCase()
      const found = exact.get(name)
      if (found !== undefined) return found
      // RFC 6125 §6.4.3: a wildcard stands for exactly one leftmost label.
      const dot = name.indexOf('.')
      return (dot === -1 ? undefined : wildcard.get(name.slice(dot + 1))) ?? first
    },
  }
}

/** The certificate's DNS names (subjectAltName), lowercased; its CN when it has none. */
function dnsNamesOf(cert: X509Certificate): string[] {
  const names: string[] = []
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase())
  }
  if (names.length > 0) return names
  const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1]
  return cn === undefined ? [] : [cn.toLowerCase()]
}

function read(field: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw invalid(field, `cannot read ${path}: ${(err as Error).message}`)
  }
}

function invalid(field: string, problem: string): ProblemsError {
  return new ProblemsError('EC_ERR_CONFIG_INVALID', [`${field}: ${problem}`])
}
