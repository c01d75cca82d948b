/**
 * Metrics of rate limits and request rules: requests of each rate-limited route allowed,
 * refused (429) or let through by the allowlist, decisions the host made because Redis did
 * not answer, and matches of each request rule by
 * action. Labels are route and rule names from the route file, so they stay bounded.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Counter, type Registry } from 'prom-client'
import { events, type RateLimitEvent, type RuleMatched } from './events.ts'

/**
 * @example const stop = registerLimitMetrics(registry)
 */
export function registerLimitMetrics(registry: Registry): () => void {
  const limited = new Counter({
    name: 'edgecache_rate_limit_requests_total',
    help: 'Requests of rate-limited routes: allowed (took a token), limited (answered 429), allowlisted.',
    labelNames: ['route', 'result'],
    registers: [registry],
  })
  const fallbacks = new Counter({
    name: 'edgecache_rate_limit_fallbacks_total',
    help: "Rate limit decisions made by this host's own buckets because the shared ones in Redis did not answer.",
    registers: [registry],
  })
  const rules = new Counter({
    name: 'edgecache_rule_matches_total',
    help: 'Requests a request rule matched, by rule name and action (deny, allow, log, tag).',
    labelNames: ['rule', 'action'],
    registers: [registry],
  })
  const onRateLimit = (message: unknown) => {
    const m = message as RateLimitEvent
    limited.inc({ route: m.route, result: m.result })
  }
  const onFallback = () => fallbacks.inc()
  const onRule = (message: unknown) => {
    const m = message as RuleMatched
    rules.inc({ rule: m.rule, action: m.action })
  }
  subscribe(events.rateLimit.name as string, onRateLimit)
  subscribe(events.ruleMatched.name as string, onRule)
  subscribe(events.rateLimitFallback.name as string, onFallback)
  return () => {
    unsubscribe(events.rateLimitFallback.name as string, onFallback)
    unsubscribe(events.rateLimit.name as string, onRateLimit)
    unsubscribe(events.ruleMatched.name as string, onRule)
  }
}
