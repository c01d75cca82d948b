/**
 * A small reader of the Prometheus text format (0.0.4) for tests: samples with their
 * labels, and lookups by exact label set, so a test can check counter values and which
 * series exist.
 */
import assert from 'node:assert/strict'

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Scrape {
  readonly samples: readonly Sample[]
  /** `# TYPE` of each metric family. */
  readonly types: ReadonlyMap<string, string>
  /** The value of the one sample of `name` with exactly `labels`; fails when there is none. */
  value(name: string, labels?: Record<string, string>): number
  /** The label sets of every sample of `name`, each as `k=v,k=v` with keys sorted, sorted. */
  series(name: string): string[]
  /** The sum of every sample of `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g

export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.length === 0) continue
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line)
      if (type !== null) types.set(type[1] as string, type[2] as string)
      continue
    }
    const match = sampleLine.exec(line)
    assert.ok(match, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(labelPair)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, (_, c: string) =>
        c === 'n' ? '\n' : c,
      )
    }
    const raw = match[3] as string
    const value =
      raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw)
    samples.push({ name: match[1] as string, labels, value })
  }
  const key = (labels: Readonly<Record<string, string>>) =>
    Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(',')
  const includes = (labels: Readonly<Record<string, string>>, wanted: Record<string, string>) =>
    Object.entries(wanted).every(([k, v]) => labels[k] === v)
  return {
    samples,
    types,
    value(name, labels = {}) {
      const wanted = key(labels)
      const found = samples.filter((s) => s.name === name && key(s.labels) === wanted)
      assert.equal(found.length, 1, `one sample ${name}{${wanted}}; series: ${this.series(name).join(' | ')}`)
      return (found[0] as Sample).value
    },
    series: (name) =>
      samples
        .filter((s) => s.name === name)
        .map((s) => key(s.labels))
        .sort(),
    sum: (name, labels = {}) =>
      samples
        .filter((s) => s.name === name && includes(s.labels, labels))
        .reduce((total, s) => total + s.value, 0),
  }
}
