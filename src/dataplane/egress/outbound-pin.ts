/**
 * What the outbound listeners serve one snapshot with: the allowlist, its resolver, the mesh
 * and default route tables by destination port (as one egress site for the request path), and
 * the target checks every request gets. One view per outbound listener: they share all of it
 * except the port a Host without one names.
 */
import type * as ir from '../../ir/index.js'
import { egressRouteTableId, outboundListenersOf } from '../../ir/index.js'
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
  /** The listener this view serves. */
  readonly outbound: ir.OutboundListener
  readonly listenerId: string
  /** The listener id the shared route tables are served under (the first outbound listener). */
  readonly tablesId: ir.ListenerId
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

/** One view of `prepared` per outbound listener, in snapshot order (none without one). */
export function pinOutbound(
  prepared: PreparedSnapshot,
  dnsServers: readonly string[] | undefined,
): Pinned[] {
  const egress = prepared.snapshot.egress
  const listeners = outboundListenersOf(egress)
  if (egress === undefined || egress.outbound === undefined) return []
  const tablesId = egress.outbound.id
  const servers = dnsServers ?? egress.dnsServers
  const matcher = compileEgressMatcher(egress)
  const resolver = createHostResolver(servers.length > 0 ? { servers } : {})
  const tables = new Map<number, CompiledRouteTable>()
  for (const port of Object.keys(egress.routeTables)) {
    const table = prepared.routeTables.get(egressRouteTableId(tablesId, Number(port)))
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
  const target: TargetSettings = {
    maxUriBytes: prepared.snapshot.settings.downstream.maxUriBytes,
    pathNormalization: prepared.snapshot.settings.pathNormalization,
  }
  return listeners.map((outbound) => ({
    prepared,
    egress,
    outbound,
    listenerId: outbound.id,
    tablesId,
    matcher,
    resolver,
    site,
    hostSite: tables.has(outbound.port) ? { ...site, defaultPort: outbound.port } : site,
    target,
  }))
}
