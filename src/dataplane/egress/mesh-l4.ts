/**
 * Mesh `tls`/`tcp` routes on the outbound side (ir.MeshL4Route): the destination a CONNECT
 * target or an SNI egress connection is sent to when a route bound to `mesh` matches its name
 * and port, e.g. the egress gateway of Istio's egress-gateway tasks. The first matching route in
 * file order wins; a destination is picked by weight per connection. The destination is then
 * decided against the allowlist like any name.
 */
import type * as ir from '../../ir/index.js'
import { weightedPick } from '../../lib/index.js'
import { decideEgress, type EgressDecision, type EgressMatcher } from '../../match/index.js'

export interface MeshL4Target {
  readonly route: string
  readonly host: string
  readonly port: number
}

export function routeMeshL4(
  routes: readonly ir.MeshL4Route[] | undefined,
  host: string,
  port: number,
): MeshL4Target | undefined {
  if (routes === undefined) return undefined
  const name = host.toLowerCase()
  for (const r of routes) {
    if (r.port !== undefined && r.port !== port) continue
    if (!r.hosts.some((h) => hostMatches(h, name))) continue
    const d = weightedPick(r.destinations)
    if (d === undefined) continue
    return { route: r.id, host: d.host, port: d.port ?? port }
  }
  return undefined
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true
  return (
    pattern.startsWith('*.') && host.length > pattern.length - 1 && host.endsWith(pattern.slice(1))
  )
}

/** The allowlist decision for a connection to `host:port`, after any mesh L4 route. */
export function decideL4(
  matcher: EgressMatcher,
  routes: readonly ir.MeshL4Route[] | undefined,
  host: string,
  port: number,
): { readonly decision: EgressDecision; readonly routed: MeshL4Target | undefined } {
  const routed = routeMeshL4(routes, host, port)
  const decision =
    routed === undefined
      ? decideEgress(matcher, host, port)
      : decideEgress(matcher, routed.host, routed.port)
  return { decision, routed }
}
