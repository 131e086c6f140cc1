/** Plain-HTTP listeners: one per port, bound on GatewayConfig bindAddress. */
import { listenerId } from '../ir/index.js'
import type * as ir from '../ir/index.js'
import type { BoundVirtualService } from './binding.js'
import { compileRouteTable, type RoutesFor } from './route-table.js'
import type { HttpPort } from './servers.js'
import { sourceRef } from './source-ref.js'

export function compileHttpListener(
  httpPort: HttpPort,
  settings: ir.GatewaySettings,
  bindings: readonly BoundVirtualService[],
  routesFor: RoutesFor,
): ir.Listener {
  const address = settings.bindAddress
  return {
    id: listenerId(address, httpPort.port),
    address,
    port: httpPort.port,
    transport: 'http',
    servers: httpPort.servers.map((s): ir.ServerRef => ({
      gateway: s.gatewayKey,
      ...(s.server.name !== undefined ? { name: s.server.name } : {}),
      portName: s.server.port.name,
      protocol: s.protocol,
      hosts: [...s.server.hosts],
      source: sourceRef(s.gateway, s.path),
    })),
    chains: [{ kind: 'http', routeTable: compileRouteTable(httpPort, bindings, routesFor) }],
  }
}
