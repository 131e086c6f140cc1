/**
 * RateLimitPolicies prepared for the request path: per HTTP route, the rules that apply, each
 * with its match compiled once and the stable prefix of its shared key. Replicas that load the
 * same config build the same keys: `rl:<policy ns/name>:<rule index>:<by values joined by |>`.
 */
import type * as ir from '../../ir/index.js'
import { compileRouteTable, type CompiledVirtualHost } from '../../match/index.js'
import type { LimitObserver } from '../../observe/events.js'
import type { RateLimiter, RateRule } from '../../state/ports.js'

/** What the data plane needs to enforce rate limits; absent: RateLimitPolicies are not enforced. */
export interface RateLimitDeps {
  readonly limiter: RateLimiter
  readonly observer: LimitObserver
}

export interface PreparedRateRule {
  readonly policy: string
  readonly index: number
  readonly keyPrefix: string
  /** Undefined when the rule matches every request of its routes. */
  readonly match: CompiledVirtualHost | undefined
  readonly by: readonly ir.RateLimitKeyPart[]
  readonly rule: RateRule
  readonly shadow: boolean
}

export interface PreparedRateLimits {
  readonly rules: readonly PreparedRateRule[]
  readonly limiter: RateLimiter
  readonly observer: LimitObserver
}

/** Route id → the rate limits of that route, in policy then rule order. */
export function prepareRateLimits(
  policies: readonly ir.RateLimitPolicy[] | undefined,
  deps: RateLimitDeps | undefined,
): ReadonlyMap<ir.RouteId, PreparedRateLimits> {
  const byRoute = new Map<ir.RouteId, PreparedRateRule[]>()
  if (policies === undefined || deps === undefined) return new Map()
  for (const policy of policies) {
    const rules = policy.rules.map((rule) => prepareRule(policy, rule))
    for (const route of policy.routes) {
      let list = byRoute.get(route)
      if (list === undefined) byRoute.set(route, (list = []))
      list.push(...rules)
    }
  }
  const out = new Map<ir.RouteId, PreparedRateLimits>()
  for (const [route, rules] of byRoute) {
    out.set(route, { rules, limiter: deps.limiter, observer: deps.observer })
  }
  return out
}

function prepareRule(policy: ir.RateLimitPolicy, rule: ir.RateLimitRule): PreparedRateRule {
  return {
    policy: policy.id,
    index: rule.index,
    keyPrefix: `rl:${policy.id}:${rule.index}:`,
    match: rule.match.length === 0 ? undefined : compileRuleMatch(policy, rule),
    by: rule.by,
    rule: { limit: rule.requests, periodMs: rule.periodMs, failureMode: policy.failureMode },
    shadow: policy.shadow,
  }
}

/**
 * The rule's match entries as a one-route virtual host, so the route matcher (and its regex
 * checks) is reused unchanged. The matcher only reads a route's id and match list.
 */
function compileRuleMatch(policy: ir.RateLimitPolicy, rule: ir.RateLimitRule): CompiledVirtualHost {
  const route = { id: `${policy.id}/rules[${rule.index}]`, match: rule.match } as ir.HttpRoute
  const table = compileRouteTable({
    name: route.id,
    virtualHosts: [{ name: route.id, domains: ['*'], requireTls: false, routes: [route] }],
  })
  return table.virtualHosts[0]!
}
