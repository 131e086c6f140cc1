/**
 * SNI egress ports (GatewayConfig.spec.egress.sniPorts) as listeners the manager binds, drains
 * and swaps like the Gateway's; what their connections do comes from ListenerManagerDeps.sniEgress.
 */
import type * as ir from '../../ir/index.js'

export function sniEgressListeners(snapshot: ir.Snapshot): ir.Listener[] {
  return (snapshot.egress?.sniListeners ?? []).map((l) => ({
    id: l.id,
    address: l.address,
    port: l.port,
    transport: 'tcp',
    servers: [],
    chains: [],
  }))
}
