/** A route's corsPolicy made ready per snapshot: origin matchers and header lists built once. */
import type * as ir from '../../ir/index.js'
import { compileStringMatch } from '../../match/index.js'
import type { StringMatcher } from '../../match/index.js'

export interface PreparedCors {
  readonly origins: readonly StringMatcher[]
  /** Preflight response headers after the origin (flat list). */
  readonly preflight: readonly string[]
  /** Actual-response headers after the origin (flat list). */
  readonly actual: readonly string[]
  readonly forwardUnmatched: boolean
}

export function prepareCors(p: ir.CorsPolicy, where: string): PreparedCors {
  const credentials =
    p.allowCredentials === true ? ['access-control-allow-credentials', 'true'] : []
  const preflight = [...credentials]
  if (p.allowMethods.length > 0)
    preflight.push('access-control-allow-methods', p.allowMethods.join(','))
  if (p.allowHeaders.length > 0)
    preflight.push('access-control-allow-headers', p.allowHeaders.join(','))
  if (p.maxAgeSeconds !== undefined)
    preflight.push('access-control-max-age', String(p.maxAgeSeconds))
  const actual = [...credentials]
  if (p.exposeHeaders.length > 0)
    actual.push('access-control-expose-headers', p.exposeHeaders.join(','))
  return {
    origins: p.allowOrigins.map((o, i) =>
      compileStringMatch(o, `${where} corsPolicy.allowOrigins[${i}]`),
    ),
    preflight,
    actual,
    forwardUnmatched: p.unmatchedPreflights === 'FORWARD',
  }
}
