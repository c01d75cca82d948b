/**
 * The README's command synopsis agrees with the command line edgecache parses: each flag it
 * shows is one the command takes with the value the help names, and the serve and purge
 * lines show every flag of theirs.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { formatUsage } from '../../src/cli/args.ts'

type Command = Parameters<typeof formatUsage>[0] & string

/** The synopsis block of "## Running it": one entry per command line, continuations joined. */
function readmeSynopsis(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('## Running it'))
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
  const lines: string[] = []
  for (const line of block.split('\n')) {
    if (line.startsWith('edgecache')) lines.push(line)
    else if (line.trim() !== '') lines[lines.length - 1] += ` ${line.trim()}`
  }
  return lines
}

/** `--name VALUE` (or `--name` for a switch) for each flag a command's --help lists, --help and --version aside. */
function helpFlags(command: Command): Set<string> {
  const usage = formatUsage(command)
  const flags = usage.slice(usage.indexOf('\nflags for'))
  return new Set(
    [...flags.matchAll(/^ {2}(--[a-z-]+(?: (?:[A-Z]+|'K: V'))?)/gm)]
      .map((m) => m[1] as string)
      .filter((f) => !f.startsWith('--help') && !f.startsWith('--version')),
  )
}

/** `--name VALUE` for each flag a synopsis line names, --help and --version aside. */
function synopsisFlags(line: string): Set<string> {
  return new Set(
    [...line.matchAll(/(--[a-z-]+(?: (?:[A-Z]+|'K: V'))?)/g)]
      .map((m) => m[1] as string)
      .filter((f) => !/^--(help|version)\b/.test(f)),
  )
}

const commandOf = (line: string): Command => {
  const word = line.split(' ')[1] ?? ''
  return (['check-config', 'demo', 'purge', 'routes'].includes(word) ? word : 'serve') as Command
}

test('each flag in the README synopsis is one its command takes, with the value --help names', () => {
  const lines = readmeSynopsis()
  assert.ok(lines.length >= 5, lines.join('\n'))
  for (const line of lines) {
    const known = helpFlags(commandOf(line))
    for (const flag of synopsisFlags(line)) assert.ok(known.has(flag), `${flag} in: ${line}`)
  }
})

test('the README synopsis shows every flag of serve and of purge', () => {
  const lines = readmeSynopsis()
  for (const command of ['serve', 'purge'] as const) {
    const shown = new Set(lines.filter((l) => commandOf(l) === command).flatMap((l) => [...synopsisFlags(l)]))
    assert.deepEqual(shown, helpFlags(command), command)
  }
})
