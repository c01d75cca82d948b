/**
 * The `tls:` and `http2:` blocks of the config schema: the TLS listener's certificates
 * (one, or several chosen by SNI), client certificates (mTLS), the redirect from plain
 * HTTP, and HTTP/2's limits. Only describes: load.ts checks the files can be read and
 * src/server/certificates.ts turns them into secure contexts.
 */
import { z } from 'zod'
import {
  boolean,
  type FieldMeta,
  fieldMeta,
  fieldName,
  filePath,
  integer,
  type ListenAddress,
  listen,
  oneOf,
  optionalInteger,
  optionalListen,
  show,
} from './fields.ts'

/** How the TLS listener asks for client certificates: not at all, optionally, or always. */
export const clientCertModes = ['none', 'request', 'require'] as const

/** One certificate of `tls.certificates`: paths of PEM files, as written. */
const certificateSchema = z.strictObject({
  cert: z.unknown().transform((input, ctx): string => pathOf(input, ctx)),
  key: z.unknown().transform((input, ctx): string => pathOf(input, ctx)),
})

function pathOf(input: unknown, ctx: z.RefinementCtx): string {
  if (typeof input === 'string' && input.trim() !== '' && !input.includes('\0')) return input
  ctx.addIssue({ code: 'custom', message: `expected a file path, got ${show(input)}`, input })
  return z.NEVER
}

const certificatesMeta: FieldMeta = {
  kind: 'list',
  doc: 'more certificates, `{ cert, key }` PEM paths each; a client gets the one whose subjectAltName DNS names (wildcards too) match its SNI name, else the first certificate',
  type: 'list of certificates',
  defaultText: '[]',
}

export const tlsSchema = z
  .strictObject({
    listen: listen(
      'where the TLS listener (HTTPS and HTTP/2) listens when a certificate is given',
      '0.0.0.0:8443',
    ),
    cert: filePath('PEM certificate (with its chain) of the TLS listener; needs tls.key'),
    key: filePath('PEM private key of tls.cert'),
    certificates: z.array(certificateSchema).prefault([]).register(fieldMeta, certificatesMeta),
    clientCa: filePath('PEM file of the CAs client certificates must chain to (mTLS)'),
    clientCert: oneOf(
      'ask clients for a certificate at the handshake: none, request (a route with requireClientCert answers 403 without a verified one) or require (the handshake fails without one)',
      clientCertModes,
      'none',
    ),
    clientSubjectHeader: fieldName(
      'request field carrying the verified client certificate subject to the backend; always removed from what clients send',
      'x-client-cert-subject',
    ),
    redirectHttp: boolean(
      'the plain listener answers every request with 308 to the same URL on https',
      false,
    ),
    redirectPort: optionalInteger(
      "port in the redirect's https URL; unset: tls.listen's port (443 is left out)",
      1,
    ),
  })
  .superRefine((tls, ctx) => {
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [tls.cert === undefined ? 'cert' : 'key'],
        message: 'expected tls.cert and tls.key together, got one of them',
      })
    }
    const hasCertificate = tls.cert !== undefined || tls.certificates.length > 0
    if (tls.clientCert !== 'none' && tls.clientCa === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientCa'],
        message: `expected the CAs client certificates must chain to, since tls.clientCert is ${tls.clientCert}`,
      })
    }
    if (tls.clientCert === 'none' && tls.clientCa !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientCert'],
        message:
          'expected request or require, since tls.clientCa is given (none never asks for a certificate)',
      })
    }
    if (!hasCertificate) {
      for (const field of ['clientCa', 'redirectHttp'] as const) {
        if (tls[field] !== undefined && tls[field] !== false) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'needs a certificate (tls.cert and tls.key, or tls.certificates)',
          })
        }
      }
    }
    if (tls.redirectPort !== undefined && tls.redirectPort > 65535) {
      ctx.addIssue({
        code: 'custom',
        path: ['redirectPort'],
        message: `expected a port, got ${tls.redirectPort}`,
      })
    }
  })
  .prefault({})

export const http2Schema = z
  .strictObject({
    enabled: boolean('offer HTTP/2 (ALPN h2) on the TLS listener beside HTTP/1.1', true),
    cleartextListen: optionalListen(
      'a listener for cleartext HTTP/2 with prior knowledge (h2c, no HTTP/1.1 on it); unset: none',
    ),
    maxConcurrentStreams: integer('most streams open at once on one HTTP/2 connection', 100, 1),
    maxClientResets: integer(
      'streams one HTTP/2 connection may cancel in 10 s before it is closed (rapid reset, CVE-2023-44487)',
      200,
      1,
    ),
  })
  .prefault({})

/** One certificate and its key, PEM paths as written. */
export interface CertificateFiles {
  readonly cert: string
  readonly key: string
}

/** The TLS listener, as validated. */
export interface TlsConfig {
  readonly listen: ListenAddress
  /** Set exactly when `key` is. */
  readonly cert?: string | undefined
  readonly key?: string | undefined
  readonly certificates: readonly CertificateFiles[]
  /** Set when `clientCert` is not `none`. */
  readonly clientCa?: string | undefined
  readonly clientCert: (typeof clientCertModes)[number]
  /** Lowercase field name. */
  readonly clientSubjectHeader: string
  readonly redirectHttp: boolean
  readonly redirectPort?: number | undefined
}

/** HTTP/2's settings, as validated. */
export interface Http2Config {
  readonly enabled: boolean
  readonly cleartextListen?: ListenAddress | undefined
  readonly maxConcurrentStreams: number
  readonly maxClientResets: number
}

/** Every certificate of the TLS listener, `tls.cert` first; empty: no TLS listener. */
export function certificateFilesOf(
  tls: TlsConfig,
): readonly (CertificateFiles & { readonly field: string })[] {
  const files = tls.certificates.map((c, i) => ({ ...c, field: `tls.certificates[${i}]` }))
  if (tls.cert !== undefined && tls.key !== undefined)
    files.unshift({ cert: tls.cert, key: tls.key, field: 'tls' })
  return files
}
