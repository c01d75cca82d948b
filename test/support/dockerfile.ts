/**
 * The repository's Dockerfile as data, through dockerfile-ast (the parser behind editors'
 * Dockerfile support): its stages, what each COPY puts where, and the final image's
 * environment. For tests that check the image without a Docker engine.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { Copy, DockerfileParser, Env, type Instruction } from 'dockerfile-ast'

export const repositoryRoot = new URL('../../', import.meta.url).pathname

export interface Stage {
  /** The name after AS, if any. */
  readonly name: string | undefined
  readonly image: string
  readonly instructions: readonly Instruction[]
}

export interface Copied {
  /** The stage copied from, or undefined for the build context (the repository). */
  readonly from: string | undefined
  readonly source: string
  /** Absolute path in the image. */
  readonly target: string
}

export interface Dockerfile {
  readonly text: string
  readonly stages: readonly Stage[]
  /** The last stage: the image that is shipped. */
  readonly final: Stage
}

export function readDockerfile(): Dockerfile {
  const text = readFileSync(posix.join(repositoryRoot, 'Dockerfile'), 'utf8')
  const stages: { name: string | undefined; image: string; instructions: Instruction[] }[] = []
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image = '', as, name] = argsOf(instruction)
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, image, instructions: [] })
    } else stages.at(-1)?.instructions.push(instruction)
  }
  const final = stages.at(-1)
  assert.ok(final, 'the Dockerfile has a FROM')
  return { text, stages, final }
}

export function argsOf(instruction: Instruction): string[] {
  return instruction.getArguments().map((a) => a.getValue())
}

/** The stage's instructions with this keyword (FROM excluded), in order. */
export function only(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.getKeyword() === keyword)
}

/** An exec-form (JSON array) argument, as ENTRYPOINT, CMD and HEALTHCHECK CMD take. */
export function execForm(content: string | null): string[] {
  const parsed: unknown = JSON.parse(content ?? '')
  assert.ok(Array.isArray(parsed) && parsed.every((w) => typeof w === 'string'), `exec form: ${content}`)
  return parsed as string[]
}

/** The stage's working directory at `instruction`: the WORKDIR lines before it. */
export function workdirAt(stage: Stage, instruction: Instruction): string {
  let dir = '/'
  for (const i of stage.instructions) {
    if (i === instruction) break
    if (i.getKeyword() === 'WORKDIR') dir = posix.resolve(dir, argsOf(i)[0] as string)
  }
  return dir
}

/** What each COPY of `stage` puts where. A target ending in / takes the source's name. */
export function copies(stage: Stage): Copied[] {
  return stage.instructions.flatMap((copy) => {
    if (!(copy instanceof Copy)) return []
    const from =
      copy
        .getFlags()
        .find((f) => f.getName() === 'from')
        ?.getValue() ?? undefined
    const words = argsOf(copy)
    const dest = words.at(-1) as string
    const base = posix.resolve(workdirAt(stage, copy), dest)
    return words.slice(0, -1).map((source) => ({
      from,
      source,
      target: dest.endsWith('/') ? posix.join(base, posix.basename(source)) : base,
    }))
  })
}

/** Where `path` (absolute, in `stage`) comes from: the COPY whose target holds it, and the rest of the path. */
export function provenance(stage: Stage, path: string): { copied: Copied; rest: string } {
  const found = copies(stage).find((c) => path === c.target || path.startsWith(`${c.target}/`))
  assert.ok(found, `nothing is copied to ${path}`)
  return { copied: found, rest: posix.relative(found.target, path) }
}

/** The environment the stage's ENV lines set. */
export function environmentOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of stage.instructions) {
    if (!(i instanceof Env)) continue
    for (const p of i.getProperties()) env[p.getName()] = p.getUnescapedValue() ?? ''
  }
  return env
}
