/**
 * What the outbound listener serves one snapshot with: the allowlist, its resolver, the mesh
 * and default route tables by destination port (as one egress site for the request path), and
 * the target checks every request gets.
 */
import type * as ir from '../../ir/index.js'
import { egressRouteTableId } from '../../ir/index.js'
import {
  compileEgressMatcher,
  type CompiledRouteTable,
  type EgressMatcher,
} from '../../match/index.js'
import type { EgressSite } from '../http/egress-route.js'
import type { TargetSettings } from '../listeners/request-target.js'
import type { PreparedSnapshot } from '../prepared.js'
import { createHostResolver, type HostResolver } from '../upstream/host-resolver.js'

export interface Pinned {
  readonly prepared: PreparedSnapshot
  readonly egress: ir.Egress
  readonly outbound: ir.OutboundListener
  readonly listenerId: string
  readonly matcher: EgressMatcher
  readonly resolver: HostResolver
  /** The egress decision as the request path makes it for absolute-form requests (port 80). */
  readonly site: EgressSite
  /**
   * The same for origin-form requests, whose Host names no port: the listener's own port when it
   * is a service port with a route table, as Istio's sidecar picks the route configuration by
   * the port connected to, else 80.
   */
  readonly hostSite: EgressSite
  /** The target checks and path normalization every request gets (as on Gateway listeners). */
  readonly target: TargetSettings
}

/** The outbound listener's view of `prepared`, or undefined when it has no outbound listener. */
export function pinOutbound(
  prepared: PreparedSnapshot,
  dnsServers: readonly string[] | undefined,
): Pinned | undefined {
  const egress = prepared.snapshot.egress
  const outbound = egress?.outbound
  if (egress === undefined || outbound === undefined) return undefined
  const servers = dnsServers ?? egress.dnsServers
  const matcher = compileEgressMatcher(egress)
  const resolver = createHostResolver(servers.length > 0 ? { servers } : {})
  const tables = new Map<number, CompiledRouteTable>()
  for (const port of Object.keys(egress.routeTables)) {
    const table = prepared.routeTables.get(egressRouteTableId(outbound.id, Number(port)))
    if (table !== undefined) tables.set(Number(port), table)
  }
  const site: EgressSite = {
    matcher,
    guard: { matcher },
    defaultPort: 80,
    tables,
    resolver,
    ...(egress.meshAliases !== undefined ? { aliases: egress.meshAliases } : {}),
    ...(egress.unbackedHosts !== undefined ? { unbacked: new Set(egress.unbackedHosts) } : {}),
  }
  return {
    prepared,
    egress,
    outbound,
    listenerId: outbound.id,
    matcher,
    resolver,
    site,
    hostSite: tables.has(outbound.port) ? { ...site, defaultPort: outbound.port } : site,
    target: {
      maxUriBytes: prepared.snapshot.settings.downstream.maxUriBytes,
      pathNormalization: prepared.snapshot.settings.pathNormalization,
    },
  }
}
