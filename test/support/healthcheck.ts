/**
 * Runs deploy/healthcheck.mjs (the container image's HEALTHCHECK) as Docker would: a child
 * process beside edgecache, with the admin address in its environment.
 */
import { execFile } from 'node:child_process'

export interface HealthcheckResult {
  readonly code: number | null
  readonly stderr: string
}

/** Runs `script` with EDGECACHE_ADMIN__LISTEN set to `adminListen`; resolves with its exit code. */
export function runHealthcheck(script: string, adminListen: string): Promise<HealthcheckResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script],
      { env: { PATH: process.env.PATH ?? '', EDGECACHE_ADMIN__LISTEN: adminListen }, timeout: 10_000 },
      (err, _stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
        resolve({ code, stderr })
      },
    )
  })
}
