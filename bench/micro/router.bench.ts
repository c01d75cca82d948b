/**
 * Route matching with 1,000 mixed routes: templates with parameters on 20 exact hosts,
 * path prefixes and anchored regexes on any host, method-restricted templates, wildcard
 * hosts, and a few routes every request must consider (unanchored regexes, a `/:slug/...`
 * template). Cases hit an early route, a late route (with parameters and tags to fill in),
 * and miss to the default route. Compiled once; only `match` is measured. Target: under
 * 2 µs median per match.
 */
import { bench, do_not_optimize, run, summary } from 'mitata'
import { compileRoutes } from '../../src/router/compile.ts'
import { parseRouteFile } from '../../src/router/route-file.ts'

const ROUTES = 1_000

function routeAt(i: number): Record<string, unknown> {
  const name = `r${i}`
  // Every 100th route is one no bucket can skip: an unanchored regex or a first-segment parameter.
  if (i % 100 === 50) return { name, match: { pathRegex: `\\.ext${i}$` } }
  if (i % 100 === 99) return { name, match: { path: `/:slug/only${i}` } }
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      return {
        name,
        match: { host: `site${i % 20}.example`, methods: ['GET', 'HEAD'], path: `/s${i}/:id` },
        tags: ['section', `item:{id}`],
      }
    case 4:
      return { name, match: { host: `site${i % 20}.example`, path: `/s${i}/files/*` } }
    case 5:
    case 6:
      return { name, match: { pathPrefix: `/p${i}/` }, cache: { ttl: '1m' } }
    case 7:
      return { name, match: { pathRegex: `^/r${i}/(?<slug>[a-z0-9-]+)$` }, tags: ['r:{slug}'] }
    case 8:
      return { name, match: { methods: ['GET'], path: `/t${i}/:a/:b` }, tags: ['{a}-{b}'] }
    default:
      return { name, match: { host: `*.w${i % 10}.example`, pathPrefix: `/w${i}/` } }
  }
}

const file = parseRouteFile({
  routes: Array.from({ length: ROUTES }, (_, i) => routeAt(i)),
  default: { name: 'other' },
})
const router = compileRoutes(file)

const cases: [string, string, string, string, string][] = [
  ['early hit (template, params)', 'GET', 'site0.example', '/s0/42', 'r0'],
  ['early hit (prefix, any host)', 'GET', 'shop.example', '/p5/a/b?x=1', 'r5'],
  ['late hit (template, params)', 'GET', 'site0.example', '/s980/12345', 'r980'],
  ['late hit (regex, named group)', 'GET', 'any.example', '/r997/some-slug', 'r997'],
  ['late hit (wildcard host)', 'GET', 'a.b.w9.example', '/w989/x', 'r989'],
  ['miss to default', 'GET', 'site3.example', '/nothing/here/at/all', 'other'],
  ['miss to default (method)', 'POST', 'site0.example', '/s980/1', 'other'],
]
for (const [label, method, host, path, expected] of cases) {
  const got = router.match(method, host, path).route.name
  if (got !== expected) throw new Error(`${label}: expected ${expected}, got ${got}`)
}

summary(() => {
  for (const [label, method, host, path] of cases) {
    bench(`router (1,000 routes): ${label}`, () => do_not_optimize(router.match(method, host, path)))
  }
})

const { benchmarks } = await run()
// The target is a median, which mitata's table does not show; print it per case.
for (const trial of benchmarks) {
  const p50 = trial.runs[0]?.stats?.p50
  if (p50 !== undefined) console.log(`median ${(p50 / 1000).toFixed(2)} µs  ${trial.alias}`)
}
