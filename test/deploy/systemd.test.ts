/**
 * deploy/edgecache.service as systemd reads it: `systemd-analyze verify` (Debian's systemd
 * package) finds no problem, the sandbox scores "OK" in `systemd-analyze security`, and the
 * command line it runs is one edgecache accepts. The unit is not started: this machine's
 * PID 1 is not systemd.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { parseArgs } from '../../src/cli/args.ts'

const unitPath = new URL('../../deploy/edgecache.service', import.meta.url)
const unit = readFileSync(unitPath, 'utf8')
/** Where the unit expects the command: npm install -g puts it there. */
const installedCommand = '/usr/local/bin/edgecache'

/** The unit's settings, in order: [section, key, value]. */
function settings(text: string): [string, string, string][] {
  let section = ''
  const out: [string, string, string][] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header) section = header[1] as string
    else {
      const at = line.indexOf('=')
      out.push([section, line.slice(0, at), line.slice(at + 1)])
    }
  }
  return out
}

function values(key: string): string[] {
  return settings(unit)
    .filter(([section, k]) => section === 'Service' && k === key)
    .map(([, , v]) => v)
}

function analyze(args: string[]): { status: number | null; out: string; err: string; error?: Error } {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, out: r.stdout ?? '', err: r.stderr ?? '', ...(r.error && { error: r.error }) }
}

describe('the systemd unit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-systemd-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  /**
   * A copy of the unit whose ExecStart runs a stand-in at a path that exists here: verify
   * checks that the program is executable, and edgecache is not installed on this machine.
   * Every other line is the unit's own.
   */
  const verifiable = () => {
    const stub = join(dir, 'edgecache')
    writeFileSync(stub, '#!/bin/sh\nexit 0\n')
    chmodSync(stub, 0o755)
    const file = join(dir, 'edgecache.service')
    writeFileSync(file, unit.replace(`ExecStart=${installedCommand} `, `ExecStart=${stub} `))
    return file
  }

  /** Why verify cannot be run here, or undefined when it can: it must pass a trivial unit. */
  const unusable = (): string | undefined => {
    const probe = analyze(['--version'])
    if (probe.error !== undefined)
      return `systemd-analyze is not installed (Debian package systemd): ${probe.error.message}`
    const trivial = join(dir, 'probe.service')
    // With the unit's ExecReload program, which verify also wants to find (procps).
    writeFileSync(trivial, '[Service]\nExecStart=/bin/sh -c true\nExecReload=/bin/kill -HUP $MAINPID\n')
    const r = analyze(['verify', trivial])
    if (r.status !== 0 || r.err.trim() !== '')
      return `systemd-analyze verify does not work here: ${r.err.trim()}`
    return undefined
  }

  test('runs the installed command, serving with the cache directory systemd makes', () => {
    const [start, ...extra] = values('ExecStart')
    assert.deepEqual(extra, [])
    const words = (start ?? '').split(/\s+/)
    assert.equal(words[0], installedCommand)
    const args = parseArgs(words.slice(1))
    assert.equal(args.command, 'serve')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's ${VAR}, expanded by systemd
    assert.equal(args.flags['cache-dir'], '${CACHE_DIRECTORY}')
    assert.deepEqual(values('CacheDirectory'), ['edgecache'])
    // SIGHUP reloads the route file (test/cli/main.test.ts); the primary relays it to workers.
    assert.deepEqual(values('ExecReload'), ['/bin/kill -HUP $MAINPID'])
  })

  test('is sandboxed, with write-and-execute memory allowed for V8', () => {
    const wanted: Record<string, string> = {
      DynamicUser: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      NoNewPrivileges: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      // V8 writes machine code at run time: MemoryDenyWriteExecute=yes would crash node.
      MemoryDenyWriteExecute: 'no',
      Restart: 'on-failure',
      KillMode: 'mixed',
    }
    for (const [key, value] of Object.entries(wanted)) assert.deepEqual(values(key), [value], key)
    assert.equal(values('SystemCallFilter')[0], '@system-service')
  })

  test('systemd-analyze verify finds no problem', (t) => {
    const reason = unusable()
    if (reason !== undefined) return t.skip(reason)
    const r = analyze(['verify', verifiable()])
    assert.equal(r.err.trim(), '', 'no warnings')
    assert.equal(r.status, 0)
  })

  test('systemd-analyze security rates its exposure OK (2.0 or less of 10)', (t) => {
    const reason = unusable()
    if (reason !== undefined) return t.skip(reason)
    const r = analyze(['security', '--offline=yes', '--threshold=20', '--no-pager', verifiable()])
    const level = /Overall exposure level for edgecache\.service: ([\d.]+)/.exec(r.out)
    assert.ok(level, r.out + r.err)
    assert.ok(Number(level[1]) <= 2, `exposure ${level[1]}`)
    assert.equal(r.status, 0)
  })
})
