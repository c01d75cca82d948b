/**
 * The rate limit stage: a request of a route with `rateLimit:` takes a token from its
 * bucket (keyed by the route and the client address, a header or a path parameter) and is
 * answered 429 when there is none, before the cache and the backend. Answers carry the
 * RateLimit and RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers-10, and a
 * 429 `Retry-After` (RFC 9110 §10.2.3). Addresses on the route's allowlist are not limited.
 */
import { type AddressList, createAddressList } from '../../address-list.ts'
import { EdgecacheError } from '../../errors.ts'
import type { RateLimiter, TakeResult } from '../../limits/rate-limiter.ts'
import { events, publish } from '../../observability/events.ts'
import type { RouteMatch } from '../../router/route.ts'
import type { RateLimitSpec } from '../../router/route-limits.ts'
import { type Answer, refusalAnswer } from '../answer.ts'
import type { Next, Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'

export interface RateLimitStageDeps {
  readonly limiter: RateLimiter
  /** The client's address through trusted proxies. */
  clientAddress(ctx: RequestContext): string
}

/** Allowlists built once per spec: specs live as long as the route file that made them. */
const allowlists = new WeakMap<RateLimitSpec, AddressList | undefined>()

function allowlistOf(spec: RateLimitSpec): AddressList | undefined {
  if (!allowlists.has(spec)) {
    allowlists.set(
      spec,
      spec.allow.length === 0
        ? undefined
        : createAddressList(
            spec.allow,
            (i) => new EdgecacheError('EC_ERR_ROUTES_INVALID', [`rateLimit.allow[${i}]`]),
          ),
    )
  }
  return allowlists.get(spec)
}

/**
 * @example const stage = createRateLimitStage({ limiter: createLocalRateLimiter(clock), clientAddress })
 */
export function createRateLimitStage(deps: RateLimitStageDeps): Stage {
  return {
    name: 'rate-limit',
    // Not async: most routes have no limit, and a hit pays for every promise on its path.
    handle(ctx, next) {
      const match = ctx.facts.match
      const spec = match?.route.rateLimit
      if (spec === undefined || match === undefined) return next(ctx)
      return limited(ctx, next, match, spec)
    },
  }

  async function limited(
    ctx: RequestContext,
    next: Next,
    match: RouteMatch,
    spec: RateLimitSpec,
  ): Promise<Answer> {
    const client = deps.clientAddress(ctx)
    const route = match.route.name
    if (allowlistOf(spec)?.has(client) === true) {
      publish(events.rateLimit, { route, result: 'allowlisted' })
      return next(ctx)
    }
    const subject = keyOf(spec, ctx, client, match.params)
    const result = await deps.limiter.take(`${route}\0${subject}`, spec.rate, spec.burst)
    const fields = rateLimitFields(spec, result)
    if (!result.allowed) {
      publish(events.rateLimit, { route, result: 'limited' })
      return refusalAnswer(ctx.id, 429, 'too many requests', {
        ...fields,
        'retry-after': String(result.retryAfterSeconds),
        'x-request-id': ctx.id,
      })
    }
    publish(events.rateLimit, { route, result: 'allowed' })
    const answer = await next(ctx)
    Object.assign(answer.headers, fields)
    return answer
  }
}

function keyOf(
  spec: RateLimitSpec,
  ctx: RequestContext,
  client: string,
  params: Readonly<Record<string, string>>,
): string {
  switch (spec.key.kind) {
    case 'client':
      return client
    case 'header': {
      const value = ctx.headers[spec.key.name]
      return value === undefined ? '' : typeof value === 'string' ? value : value.join(', ')
    }
    case 'param':
      return params[spec.key.name] ?? ''
  }
}

/**
 * draft-ietf-httpapi-ratelimit-headers-10: the policy as a quota `q` per window `w` seconds
 * (a bucket of `burst` refilled in burst/rate seconds), and the service limit now: `r`
 * requests left, `t` seconds until the quota is whole again.
 */
function rateLimitFields(spec: RateLimitSpec, result: TakeResult): Record<string, string> {
  const window = Math.max(1, Math.ceil(spec.burst / spec.rate))
  return {
    'ratelimit-policy': `"default";q=${spec.burst};w=${window}`,
    ratelimit: `"default";r=${result.remaining};t=${result.resetSeconds}`,
  }
}
