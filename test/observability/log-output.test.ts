/**
 * The log output pino and the access lines share: lines keep their order, buffered lines
 * go out by themselves, a clean stop writes everything, an exit writes what is buffered,
 * and a reopen after the file was moved writes to a new file at the path.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, describe, test } from 'node:test'
import { createLogOutput } from '../../src/observability/log-output.ts'
import { waitFor } from '../support/client.ts'

function capture() {
  const chunks: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString())
      callback()
    },
  })
  return { destination, text: () => chunks.join(''), chunks }
}

describe('log output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgecache-log-output-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('a line written now goes out at once, after the lines buffered before it', () => {
    const { destination, text, chunks } = capture()
    const output = createLogOutput({ destination })
    output.buffer('a\n')
    output.buffer('b\n')
    assert.equal(text(), '')
    output.write('c\n')
    assert.equal(text(), 'a\nb\nc\n')
    assert.equal(chunks.length, 1, 'in one write')
  })

  test('buffered lines go out by themselves, soon, and at once when many', async () => {
    const { destination, text } = capture()
    const output = createLogOutput({ destination })
    output.buffer('quiet\n')
    await waitFor(() => text() === 'quiet\n')
    const line = `${'x'.repeat(1023)}\n`
    for (let i = 0; i < 32; i++) output.buffer(line)
    assert.equal(text(), `quiet\n${line.repeat(32)}`, '32 KiB gathered: handed on without waiting')
  })

  test('a line longer than a batch, and characters past ASCII, keep their place', async () => {
    const file = join(dir, 'long.log')
    const output = createLogOutput({ file })
    const long = `${'é'.repeat(50_000)}\n`
    // Kept while the file opens, then handed on: the order stays whatever the sizes.
    output.buffer('one\n')
    output.buffer(long)
    output.buffer('two \ud83d\ude00\n')
    output.write(long)
    output.buffer('three\n')
    await output.flush()
    assert.equal(readFileSync(file, 'utf8'), `one\n${long}two \ud83d\ude00\n${long}three\n`)
  })

  test('flush() writes every buffered line to the file before it resolves', async () => {
    const file = join(dir, 'flush.log')
    const output = createLogOutput({ file })
    for (let i = 0; i < 1000; i++) output.buffer(`line ${i}\n`)
    output.write('last\n')
    await output.flush()
    const written = readFileSync(file, 'utf8').split('\n')
    assert.equal(written.length, 1002)
    assert.equal(written[999], 'line 999')
    assert.equal(written[1000], 'last')
  })

  test('many batches, with lines coming while a write is in flight, reach the file whole and in order', async () => {
    const file = join(dir, 'many.log')
    const output = createLogOutput({ file })
    const expected: string[] = []
    for (let turn = 0; turn < 50; turn++) {
      for (let i = 0; i < 400; i++) {
        const line = `turn ${turn} line ${i} ${'x'.repeat(i % 50)}`
        expected.push(line)
        output.buffer(`${line}\n`)
      }
      expected.push(`now ${turn}`)
      output.write(`now ${turn}\n`)
      // A turn of the event loop, as requests finish: some writes complete meanwhile.
      await new Promise((resolve) => setImmediate(resolve))
    }
    await output.flush()
    assert.deepEqual(readFileSync(file, 'utf8').split('\n'), [...expected, ''])
  })

  test('two reopens in a row leave what follows in the file at the path', async () => {
    const file = join(dir, 'twice.log')
    const output = createLogOutput({ file })
    output.buffer('first\n')
    await output.flush()
    renameSync(file, `${file}.1`)
    output.reopen()
    output.reopen()
    output.buffer('after\n')
    await output.flush()
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'first\n')
    assert.equal(readFileSync(file, 'utf8'), 'after\n')
  })

  test('reopen() after the file was moved writes what follows to a new file at the path', async () => {
    const file = join(dir, 'rotated.log')
    const output = createLogOutput({ file })
    output.buffer('before\n')
    await output.flush()
    renameSync(file, `${file}.1`)
    output.buffer('still before\n')
    output.reopen()
    output.buffer('after\n')
    await output.flush()
    // What was logged before the reopen stays in the old file.
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'before\nstill before\n')
    assert.equal(readFileSync(file, 'utf8'), 'after\n')
  })

  for (const [when, wait] of [
    ['with a write in flight', ''],
    ['with nothing in flight', 'await output.flush()'],
  ] as const) {
    test(`a process that exits with lines buffered writes them on its way out, ${when}`, () => {
      const file = join(dir, `exit-${wait === '' ? 'in-flight' : 'idle'}.log`)
      const module = new URL('../../src/observability/log-output.ts', import.meta.url).pathname
      const script = [
        `import { createLogOutput } from ${JSON.stringify(module)}`,
        `const output = createLogOutput({ file: ${JSON.stringify(file)} })`,
        `output.write('first\\n')`,
        wait,
        `for (let i = 0; i < 100; i++) output.buffer('buffered ' + i + '\\n')`,
        'process.exit(3)',
      ].join('\n')
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(child.status, 3, child.stderr)
      assert.equal(child.stderr, '')
      const written = readFileSync(file, 'utf8').split('\n')
      // A write in flight at exit may or may not have been done: it is written again, so a
      // line may show twice but never goes missing. What was only kept is written once.
      const firsts = written.filter((line) => line === 'first').length
      if (wait === '') assert.ok(firsts === 1 || firsts === 2, `first ${firsts} times`)
      else assert.equal(firsts, 1)
      assert.deepEqual(written.slice(firsts), [...Array.from({ length: 100 }, (_, i) => `buffered ${i}`), ''])
    })
  }

  test('a log file that cannot be written stops the start, naming log.file and the reason', () => {
    writeFileSync(join(dir, 'a-file'), '')
    const file = join(dir, 'a-file', 'edgecache.log')
    assert.throws(
      () => createLogOutput({ file }),
      /^EdgecacheError: invalid configuration: log\.file: cannot write ".*a-file\/edgecache\.log": E[A-Z]+/,
    )
  })
})
