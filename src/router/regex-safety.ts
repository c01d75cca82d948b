/**
 * Decides, when a route file loads, whether a `pathRegex` is safe to run on V8's
 * backtracking engine against any path a client may send. Pure: no I/O.
 *
 * Why scslre and not safe-regex2: safe-regex2 measures star height (a quantifier inside a
 * quantifier) and so misses overlapping alternatives in a loop (`(a|a)*$`, `(\w|\d)+$`),
 * adjacent quantifiers that trade characters (`\d+\d+x`) and the quadratic restart of an
 * unanchored search (`[0-9]+$` on a long run of digits). scslre, the analyser behind
 * eslint-plugin-regexp's no-super-linear-backtracking rule, works on the regex's automaton
 * and reports exponential and polynomial backtracking alike, naming the character to repeat.
 * It treats bounded quantifiers as safe, so `(?:a{1,30}){1,30}` would pass; we widen every
 * bounded range (`{n,m}`, m ≥ 2) to `{n,}` before the analysis, which over-approximates the
 * ambiguity. `?` stays as written: the blow-up it allows is bounded by how many of them a
 * pattern of at most `maxRegexLength` characters can hold. Backreferences are refused
 * outright: they make the language non-regular and the analysis does not model them.
 */
import { type AST, RegExpParser, visitRegExpAST } from '@eslint-community/regexpp'
import { lazyRequire } from '../lazy-require.ts'

/** Loaded with the first route regex: most route files have none. */
const scslre = lazyRequire<typeof import('scslre')>('scslre')

/** Longest `pathRegex` accepted, in characters. */
export const maxRegexLength = 512

/** A regex that passed: the compiled RegExp and what the matcher can use to skip it cheaply. */
export interface CheckedRegex {
  readonly regex: RegExp
  /** Names of the named capture groups; they become path parameters. */
  readonly groupNames: readonly string[]
  /** Literal text every match starts with when the regex is anchored with `^`, else `''`. */
  readonly literalPrefix: string
}

/**
 * Checks a route's path regex: length, syntax, and catastrophic backtracking. The regex is
 * compiled without flags and run against the path alone (no query).
 *
 * @returns the checked regex, or a problem in words (without the field name).
 * @example checkPathRegex('(a+)+$') // { problem: 'can backtrack catastrophically: ...' }
 */
export function checkPathRegex(source: string): CheckedRegex | { readonly problem: string } {
  if (source === '') return { problem: 'must not be empty' }
  if (source.length > maxRegexLength) {
    return { problem: `longer than ${maxRegexLength} characters (got ${source.length})` }
  }
  let regex: RegExp
  let literal: AST.RegExpLiteral
  try {
    regex = new RegExp(source)
    literal = new RegExpParser().parseLiteral(regex.toString())
  } catch (err) {
    // V8: "Invalid regular expression: /(/: Unterminated group"; keep what follows the pattern.
    const message = (err as Error).message
    const detail = message.slice(message.lastIndexOf(': ') + 2)
    return { problem: `invalid regular expression: ${detail}` }
  }
  const groupNames: string[] = []
  let backreference = false
  visitRegExpAST(literal, {
    onCapturingGroupEnter(node) {
      if (node.name !== null) groupNames.push(node.name)
    },
    onBackreferenceEnter() {
      backreference = true
    },
    onQuantifierEnter(node) {
      if (node.max !== Number.POSITIVE_INFINITY && node.max >= 2 && node.max > node.min) {
        node.max = Number.POSITIVE_INFINITY
      }
    },
  })
  if (backreference) return { problem: 'backreferences are not allowed in route regexes' }
  const literalPrefix = anchoredPrefix(literal.pattern)
  const { reports } = scslre().analyse(literal, { assumeRejectingSuffix: true, maxReports: 1 })
  const report = reports[0]
  if (report !== undefined) {
    const growth = report.exponential ? 'exponential' : 'polynomial'
    const hint =
      report.type === 'Move'
        ? 'anchor it with ^ or start it with literal text so the search cannot restart at every position'
        : 'remove the nested or adjacent repetitions that can match the same text'
    return {
      problem: `can backtrack catastrophically (${growth} time on a path repeating ${JSON.stringify(report.character.pick)}); ${hint}`,
    }
  }
  return { regex, groupNames, literalPrefix }
}

/** The literal characters after a leading `^` of a pattern with one alternative, else `''`. */
function anchoredPrefix(pattern: AST.Pattern): string {
  const [only, ...others] = pattern.alternatives
  if (only === undefined || others.length > 0) return ''
  const [first, ...rest] = only.elements
  if (first?.type !== 'Assertion' || first.kind !== 'start') return ''
  let prefix = ''
  for (const element of rest) {
    if (element.type !== 'Character') break
    prefix += String.fromCodePoint(element.value)
  }
  return prefix
}

/**
 * `source` with each named group made a plain capturing group (`(?<id>\\d+)` → `(\\d+)`), so
 * several route regexes can be joined in one alternation without clashing names. Only for
 * a source `checkPathRegex` accepted.
 */
export function withoutGroupNames(source: string): string {
  const pattern = new RegExpParser().parsePattern(source)
  const cuts: [number, number][] = []
  visitRegExpAST(pattern, {
    onCapturingGroupEnter(node) {
      // `(?<name>`: keep the `(`, drop `?<name>`.
      if (node.name !== null) cuts.push([node.start + 1, source.indexOf('>', node.start) + 1])
    },
  })
  let result = ''
  let from = 0
  for (const [start, end] of cuts) {
    result += source.slice(from, start)
    from = end
  }
  return result + source.slice(from)
}
