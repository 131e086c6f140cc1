/**
 * portcullis.io/v1alpha1 RateLimitPolicy: request rate limits on a Gateway's traffic or on a
 * VirtualService (optionally one named HTTP route), shared by every replica when Redis is
 * configured. The algorithm and its admission bound are in docs/limits.md.
 */
import { arr, bool, enumOf, int, obj, req, str, type Infer } from './dsl.js'
import { httpMatchRequest } from './virtual-service.js'

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/

/** `clientIp`, `host`, `route` or `header:<lower-case name>`. */
export const RATE_LIMIT_KEYS = ['clientIp', 'host', 'route'] as const

function checkLimitKey(v: string): string | undefined {
  if ((RATE_LIMIT_KEYS as readonly string[]).includes(v)) return undefined
  if (v.startsWith('header:')) {
    const name = v.slice('header:'.length)
    if (HEADER_NAME.test(name)) return undefined
    return `"${name}" is not a lower-case header name`
  }
  return `"${v}" is not one of clientIp, host, route or header:<name>`
}

const policyTargetRef = obj(
  {
    group: enumOf(['networking.istio.io']),
    kind: req(enumOf(['Gateway', 'VirtualService'])),
    name: req(str({ nonEmpty: true })),
    namespace: str({ nonEmpty: true }),
    sectionName: str({ nonEmpty: true }),
  },
  {
    name: 'PolicyTargetReference',
    check: (v, ctx, path) => {
      if (v.kind === 'Gateway' && v.sectionName !== undefined) {
        ctx.issues.push({
          code: 'PC1801',
          path: [...path, 'sectionName'],
          message: 'sectionName names an HTTP route, so it needs kind VirtualService',
        })
      }
    },
  },
)

const rateLimitRule = obj(
  {
    match: arr(httpMatchRequest),
    by: arr(str({ nonEmpty: true, check: checkLimitKey })),
    limit: req(
      obj(
        {
          requests: req(int({ min: 1, max: 1_000_000_000 })),
          unit: req(enumOf(['second', 'minute', 'hour', 'day'])),
        },
        { name: 'RateLimit' },
      ),
    ),
  },
  {
    name: 'RateLimitRule',
    check: (v, ctx, path) => {
      v.match?.forEach((m, i) => {
        for (const field of ['port', 'gateways'] as const) {
          if (m[field] === undefined) continue
          ctx.issues.push({
            code: 'PC1802',
            path: [...path, 'match', i, field],
            message: `${field} does not apply in a rate-limit rule: the policy's targetRefs choose the traffic`,
          })
        }
      })
    },
  },
)

export const rateLimitPolicySpec = obj(
  {
    targetRefs: req(arr(policyTargetRef, { min: 1 })),
    rules: req(arr(rateLimitRule, { min: 1 })),
    failureMode: enumOf(['open', 'closed']),
    shadow: bool(),
  },
  { name: 'RateLimitPolicy' },
)
export type RateLimitPolicySpec = Infer<typeof rateLimitPolicySpec>
export type RateLimitRuleSpec = Infer<typeof rateLimitRule>
