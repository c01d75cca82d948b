/**
 * The TLS listener's certificates kept current: reloaded when one of their files changes
 * (the directories are watched, so an editor's rename, certbot's symlink swap and a
 * Kubernetes Secret's `..data` swap are all seen) and on a config reload (SIGHUP, `POST
 * /reload`). A set that does not load (a key that does not fit its certificate, as
 * between writing the one and the other) leaves the one in force. Only new handshakes get
 * the new set; open connections keep theirs.
 */
import { createHash } from 'node:crypto'
import { type FSWatcher, readFileSync, watch } from 'node:fs'
import { dirname } from 'node:path'
import { type CertificateSet, type CertificateSource, loadCertificates } from './certificates.ts'

export interface LiveCertificates {
  /** The set in force. */
  current(): CertificateSet
  /**
   * Loads the files again (with other paths, after a config reload) and takes the set when
   * it loads; returns the problems otherwise, and keeps the set in force.
   */
  reload(
    sources: readonly CertificateSource[],
    clientCa: string | undefined,
    trigger: string,
  ): readonly string[]
  close(): void
}

export interface LiveCertificatesOptions {
  readonly sources: readonly CertificateSource[]
  readonly clientCa: string | undefined
  /** Told of each set taken after the first, to hand to the listener. */
  readonly onChange: (set: CertificateSet) => void
  /** @default true */
  readonly watch?: boolean
  readonly log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void }
}

/** A renewal writes several files in a row; one reload after they settle. */
const SETTLE_MS = 100

/**
 * Loads the certificates (throwing, naming the field, when they do not load at start) and
 * keeps them current.
 * @example
 * const certs = createLiveCertificates({ sources, clientCa, onChange: (set) => proxy.setCertificates(set), log })
 */
export function createLiveCertificates(options: LiveCertificatesOptions): LiveCertificates {
  const { log } = options
  let sources = options.sources
  let clientCa = options.clientCa
  let set = loadCertificates(sources, clientCa)
  // What the files said when last loaded: a directory event that changed none of them is ignored.
  let fingerprint = fingerprintOf(sources, clientCa)
  let watchers: FSWatcher[] = []
  let timer: NodeJS.Timeout | undefined

  const take = (trigger: string): readonly string[] => {
    fingerprint = fingerprintOf(sources, clientCa)
    try {
      set = loadCertificates(sources, clientCa)
    } catch (err) {
      const problems = (err as { problems?: readonly string[] }).problems ?? [(err as Error).message]
      log.error({ trigger, problems }, 'certificates not reloaded, keeping those in force')
      return problems
    }
    log.info({ trigger, names: set.names }, 'certificates reloaded')
    options.onChange(set)
    return []
  }

  const watchAll = () => {
    for (const watcher of watchers) watcher.close()
    if (options.watch === false) return
    const directories = new Set(
      [...sources.flatMap((s) => [s.cert, s.key]), ...(clientCa === undefined ? [] : [clientCa])].map(
        (path) => dirname(path),
      ),
    )
    watchers = [...directories].map((directory) =>
      watch(directory, () => {
        clearTimeout(timer)
        timer = setTimeout(() => {
          if (fingerprintOf(sources, clientCa) !== fingerprint) take('watch')
        }, SETTLE_MS)
        timer.unref()
      }),
    )
  }
  watchAll()

  return {
    current: () => set,
    reload(nextSources, nextClientCa, trigger) {
      const samePaths = JSON.stringify([sources, clientCa]) === JSON.stringify([nextSources, nextClientCa])
      const before = { sources, clientCa }
      sources = nextSources
      clientCa = nextClientCa
      const problems = take(trigger)
      if (problems.length > 0) {
        sources = before.sources
        clientCa = before.clientCa
      } else if (!samePaths) watchAll()
      return problems
    },
    close() {
      clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
      watchers = []
    },
  }
}

/** A hash of every file's content (or why it could not be read). */
function fingerprintOf(sources: readonly CertificateSource[], clientCa: string | undefined): string {
  const hash = createHash('sha256')
  for (const path of [
    ...sources.flatMap((s) => [s.cert, s.key]),
    ...(clientCa === undefined ? [] : [clientCa]),
  ]) {
    try {
      hash.update(readFileSync(path))
    } catch (err) {
      hash.update(String((err as { code?: string }).code))
    }
    hash.update('\0')
  }
  return hash.digest('hex')
}
