/**
 * Compiles a validated route file once into a Router whose `match` does not scan every
 * route. Pure: no I/O, no clock.
 *
 * Routes are bucketed twice. First by host: an exact-host map, a map of `*.suffix`
 * wildcards, and one bucket for routes with no host. Then, inside each host bucket, by the
 * literal path segments every path they match must start with, in a trie: `/api/v1/users/:id`
 * hangs under api → v1 → users, pathPrefix `/api/` under api, pathRegex `^/img/.+` under img,
 * and routes with no fixed first segment (`/:slug`, an unanchored regex, no path) at the
 * root. A request walks each of its host buckets along its own path segments and collects
 * the lists on the way: only routes that could match are looked at.
 *
 * First match in FILE ORDER wins across all those lists. They are not merged at request
 * time: each list is in file order and is scanned only while its candidates come before
 * the best match found so far, stopping at its own first match, so the lowest index wins.
 *
 * A list with several regex-tested candidates (templates with parameters, path regexes)
 * also gets one combined regex, the alternation of theirs: one pass over the path says
 * whether any of them can match, so a request that matches none of them (the common case
 * for the root list of unanchored regexes) costs one regex run, not one per route.
 * Alternation adds the cost of its parts, so it keeps each part's linear-time guarantee.
 */
import { parsePathTemplate } from './path-pattern.ts'
import { withoutGroupNames } from './regex-safety.ts'
import type { Route, RouteMatch, Router } from './route.ts'
import type { PathSpec, RouteFile, RouteSpec } from './route-file.ts'
import { expandTag, parseTagTemplate, type TagTemplate } from './tag-template.ts'

/** Lists with at least this many regex-tested candidates get a combined regex. */
const COMBINE_FROM = 4

/** Tests a path against one route; a match carries the route, its parameters and tags. */
type PathMatcher = (path: string) => RouteMatch | undefined

interface Candidate {
  /** Position in the file: lower wins. */
  readonly index: number
  readonly methods: ReadonlySet<string> | undefined
  readonly match: PathMatcher
  /** The regex `match` runs, without group names; undefined when it runs none. */
  readonly regexSource: string | undefined
}

/** Candidates in file order, with a combined regex when there are enough regex tests. */
interface CandidateList {
  readonly candidates: readonly Candidate[]
  /** Matches when some candidate's regex could; undefined when the list has none. */
  readonly anyRegex: RegExp | undefined
}

/** A node of a host bucket's segment trie: the routes whose fixed segments end here. */
interface PathNode {
  readonly list: CandidateList | undefined
  readonly children: ReadonlyMap<string, PathNode> | undefined
}

interface Entry {
  readonly candidate: Candidate
  /** The literal path segments all its paths start with. */
  readonly segments: readonly string[]
}

const noParams: Readonly<Record<string, string>> = Object.freeze({})

/**
 * Builds the matcher for a validated route file.
 *
 * @example
 * const router = compileRoutes(parseRouteFile(parseYaml(text)))
 * router.match('GET', 'shop.example', '/p/42') // { route: { name: 'product', … }, params: { id: '42' }, tags: [...] }
 */
export function compileRoutes(file: RouteFile): Router {
  const exact = new Map<string, Entry[]>()
  const wildcard = new Map<string, Entry[]>()
  const anyHost: Entry[] = []
  for (const [index, spec] of file.routes.entries()) {
    const { match, segments, regexSource } = compilePath(spec, toRoute(spec))
    const methods = spec.match.methods === undefined ? undefined : new Set(spec.match.methods)
    const entry: Entry = { candidate: { index, methods, match, regexSource }, segments }
    const host = spec.match.host
    if (host === undefined) anyHost.push(entry)
    else if (host.startsWith('*.')) push(wildcard, host.slice(1), entry)
    else push(exact, host, entry)
  }
  const exactTrees = new Map([...exact].map(([host, entries]) => [host, buildTree(entries)]))
  const wildcardTrees = new Map([...wildcard].map(([suffix, entries]) => [suffix, buildTree(entries)]))
  const anyTree = buildTree(anyHost)
  const hasWildcards = wildcardTrees.size > 0
  const fallbackRoute: Route = Object.freeze({
    name: file.default.name,
    policy: file.default.policy,
    tags: Object.freeze([...file.default.tags]),
    upstream: file.default.upstream,
  })
  const fallback: RouteMatch = Object.freeze({
    route: fallbackRoute,
    params: noParams,
    tags: fallbackRoute.tags,
  })

  // match() runs to its end without awaiting, so one scan state serves every call.
  let bestIndex = Number.POSITIVE_INFINITY
  let best: RouteMatch | undefined

  const scan = ({ candidates, anyRegex }: CandidateList, method: string, path: string): void => {
    // 0: combined regex not run yet; 1: some regex may match; 2: none can.
    let regexes = anyRegex === undefined ? 1 : 0
    for (const candidate of candidates) {
      if (candidate.index >= bestIndex) return
      if (candidate.methods !== undefined && !candidate.methods.has(method)) continue
      if (candidate.regexSource !== undefined) {
        if (regexes === 0) regexes = anyRegex!.test(path) ? 1 : 2
        if (regexes === 2) continue
      }
      const found = candidate.match(path)
      if (found !== undefined) {
        bestIndex = candidate.index
        best = found
        return
      }
    }
  }

  // The request path's segments, split once per match and shared by every host bucket's walk;
  // a segment string looked up once has its hash cached, so later lookups of it are cheap.
  const segments: string[] = []
  let segmentsSplit = 0
  let nextStart = 1
  const segmentAt = (i: number, path: string): string | undefined => {
    while (segmentsSplit <= i) {
      if (nextStart > path.length) return undefined
      let end = path.indexOf('/', nextStart)
      if (end === -1) end = path.length
      segments[segmentsSplit++] = path.slice(nextStart, end)
      nextStart = end + 1
    }
    return segments[i]
  }

  const walk = (root: PathNode, method: string, path: string): void => {
    let node = root
    if (node.list !== undefined) scan(node.list, method, path)
    for (let depth = 0; node.children !== undefined; depth++) {
      const segment = segmentAt(depth, path)
      const child = segment === undefined ? undefined : node.children.get(segment)
      if (child === undefined) return
      node = child
      if (node.list !== undefined) scan(node.list, method, path)
    }
  }

  return {
    rules: file.rules,
    size: file.routes.length,
    match(method: string, host: string, target: string): RouteMatch {
      const query = target.indexOf('?')
      const path = query === -1 ? target : target.slice(0, query)
      const name = hostName(host)
      bestIndex = Number.POSITIVE_INFINITY
      best = undefined
      segmentsSplit = 0
      nextStart = 1
      const exactTree = exactTrees.get(name)
      if (exactTree !== undefined) walk(exactTree, method, path)
      if (hasWildcards) {
        for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
          const tree = wildcardTrees.get(name.slice(dot))
          if (tree !== undefined) walk(tree, method, path)
        }
      }
      walk(anyTree, method, path)
      const found = best ?? fallback
      best = undefined
      return found
    },
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

/** The segment trie of one host bucket; `entries` are in file order, and so is each list. */
function buildTree(entries: readonly Entry[]): PathNode {
  const here: Candidate[] = []
  const below = new Map<string, Entry[]>()
  for (const entry of entries) {
    const [first, ...rest] = entry.segments
    if (first === undefined) here.push(entry.candidate)
    else push(below, first, { candidate: entry.candidate, segments: rest })
  }
  return {
    list: here.length === 0 ? undefined : candidateList(here),
    children:
      below.size === 0
        ? undefined
        : new Map([...below].map(([segment, children]) => [segment, buildTree(children)])),
  }
}

function candidateList(candidates: readonly Candidate[]): CandidateList {
  const sources = candidates.flatMap((candidate) =>
    candidate.regexSource === undefined ? [] : [`(?:${candidate.regexSource})`],
  )
  return {
    candidates,
    anyRegex: sources.length >= COMBINE_FROM ? new RegExp(sources.join('|')) : undefined,
  }
}

/** The host of a Host header value without its port, lowercased: `Shop.Example:8080` → `shop.example`. */
function hostName(host: string): string {
  let end = host.length
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf(']')
    if (close !== -1) end = close + 1
  } else {
    const colon = host.indexOf(':')
    if (colon !== -1) end = colon
  }
  return (end === host.length ? host : host.slice(0, end)).toLowerCase()
}

/**
 * The literal segments every path starting with `literal` has. The last piece counts only
 * when it is known to be whole: when the literal is the whole path (`exact`), or is
 * followed by `/` (then the piece is `''` and dropped): `/api/v1` → `[api]`, `/api/` → `[api]`.
 */
function fixedSegments(literal: string, exact: boolean): readonly string[] {
  if (!literal.startsWith('/')) return []
  const segments = literal.slice(1).split('/')
  if (!exact) segments.pop()
  return segments
}

function toRoute(spec: RouteSpec): Route {
  return Object.freeze({
    name: spec.name,
    policy: spec.policy,
    tags: Object.freeze([...spec.tags]),
    upstream: spec.upstream,
    rateLimit: spec.rateLimit,
    rules: spec.rules,
    requireClientCert: spec.requireClientCert,
  })
}

/** A route's path test, the segments its paths share, and the regex the test runs, if any. */
function compilePath(
  spec: RouteSpec,
  route: Route,
): { match: PathMatcher; segments: readonly string[]; regexSource: string | undefined } {
  const path: PathSpec = spec.match.path
  const fixed: RouteMatch = Object.freeze({ route, params: noParams, tags: route.tags })
  const templates = route.tags.map(parseTagTemplate).filter((t): t is TagTemplate => !('problem' in t))
  const withParams = (params: Readonly<Record<string, string>>): RouteMatch => ({
    route,
    params,
    tags: templates.map((template) => expandTag(template, params)),
  })
  switch (path.kind) {
    case 'any':
      return { match: () => fixed, segments: [], regexSource: undefined }
    case 'prefix': {
      const { prefix } = path
      return {
        match: (p) => (p.startsWith(prefix) ? fixed : undefined),
        segments: fixedSegments(prefix, false),
        regexSource: undefined,
      }
    }
    case 'template': {
      const template = parsePathTemplate(path.template)
      if ('problem' in template) throw new Error(`route ${spec.name}: ${template.problem}`)
      const segments = fixedSegments(template.literalPrefix, template.exact)
      const { regex, params: names } = template
      if (regex === undefined) {
        const literal = path.template
        return { match: (p) => (p === literal ? fixed : undefined), segments, regexSource: undefined }
      }
      return {
        match: (p) => {
          const found = regex.exec(p)
          if (found === null) return undefined
          const params: Record<string, string> = {}
          for (let i = 0; i < names.length; i++) params[names[i]!] = found[i + 1] ?? ''
          return withParams(params)
        },
        segments,
        regexSource: regex.source,
      }
    }
    case 'regex': {
      const regex = new RegExp(path.source)
      const { literalPrefix, params: names } = path
      const segments = fixedSegments(literalPrefix, false)
      const regexSource = withoutGroupNames(path.source)
      if (names.length === 0) {
        return { match: (p) => (regex.test(p) ? fixed : undefined), segments, regexSource }
      }
      return {
        match: (p) => {
          const groups = regex.exec(p)?.groups
          if (groups === undefined) return undefined
          const params: Record<string, string> = {}
          for (const name of names) {
            const value = groups[name]
            if (value !== undefined) params[name] = value
          }
          return withParams(params)
        },
        segments,
        regexSource,
      }
    }
  }
}
