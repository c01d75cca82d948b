/**
 * A listener that cannot bind, as one line an operator can act on: which listener, which
 * address, and why in words (`cannot listen on proxy 0.0.0.0:8000: address in use`).
 */
import { EdgecacheError } from '../errors.ts'

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not resolved',
}

export function listenError(
  listener: 'proxy' | 'tls' | 'h2c' | 'admin',
  host: string,
  port: number,
  err: unknown,
): EdgecacheError {
  const code = (err as { code?: string } | null)?.code
  const reason =
    (code === undefined ? undefined : REASONS[code]) ?? (err instanceof Error ? err.message : String(err))
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  return new EdgecacheError('EC_ERR_LISTEN', [listener, address, reason], { cause: err })
}
