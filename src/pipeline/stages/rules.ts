/**
 * The request rules stage (the WAF hook). It runs one list of rules in order: the route
 * file's top-level list before routing, or the matched route's own list after it. A deny
 * answers at once with its status, so the request never reaches the cache, the store or a
 * backend; allow ends the rules for the request (the route's too); log writes a line; tag
 * adds a tag to the request's access line. Every match is published for metrics.
 */
import type { Rule, RuleRequest } from '../../router/rules.ts'
import { events, publish } from '../../observability/events.ts'
import { type Answer, refusalAnswer } from '../answer.ts'
import type { Next, Stage } from '../compose.ts'
import type { RequestContext } from '../context.ts'

export interface RulesStageDeps {
  /** The list to run for this request: the route file's top-level rules, or the route's. */
  rules(ctx: RequestContext): readonly Rule[] | undefined
  /** The client's address through trusted proxies. */
  clientAddress(ctx: RequestContext): string
  readonly log: { warn(obj: object, msg: string): void }
  /** The stage's name: `rules` (top level) or `route-rules`. */
  readonly name: string
}

/**
 * @example
 * const stage = createRulesStage({ name: 'rules', rules: () => routes.current().rules, clientAddress, log })
 */
export function createRulesStage(deps: RulesStageDeps): Stage {
  return {
    name: deps.name,
    // Not async: most requests meet no rules, and a hit pays for every promise on its path.
    handle(ctx, next) {
      const rules = deps.rules(ctx)
      if (rules === undefined || rules.length === 0 || ctx.facts.rulesAllowed) return next(ctx)
      return runRules(ctx, next, rules)
    },
  }

  async function runRules(ctx: RequestContext, next: Next, rules: readonly Rule[]): Promise<Answer> {
    const request = ruleRequest(ctx, deps.clientAddress(ctx))
    for (const rule of rules) {
      if (!rule.matches(request)) continue
      if (rule.check !== undefined && !(await rule.check(request))) continue
      publish(events.ruleMatched, { rule: rule.name, action: rule.action })
      switch (rule.action) {
        case 'deny':
          ctx.facts.ruleTags = [...ctx.facts.ruleTags, `deny:${rule.name}`]
          return refusalAnswer(ctx.id, rule.status, `refused by rule ${rule.name}`, {
            'x-request-id': ctx.id,
          })
        case 'allow':
          ctx.facts.rulesAllowed = true
          return next(ctx)
        case 'log':
          deps.log.warn(
            {
              reqId: ctx.id,
              rule: rule.name,
              method: request.method,
              path: request.path,
              client: request.client,
            },
            'request rule matched',
          )
          break
        case 'tag':
          ctx.facts.ruleTags = [...ctx.facts.ruleTags, rule.tag ?? rule.name]
          break
      }
    }
    return next(ctx)
  }
}

function ruleRequest(ctx: RequestContext, client: string): RuleRequest {
  const query = ctx.target.indexOf('?')
  return {
    method: ctx.method,
    path: query === -1 ? ctx.target : ctx.target.slice(0, query),
    query: query === -1 ? '' : ctx.target.slice(query + 1),
    headers: ctx.headers,
    client,
  }
}
