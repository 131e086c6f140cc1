/** Listeners, one per port, bound on GatewayConfig bindAddress: plain HTTP, TLS (SNI chains), TCP. */
import type * as istio from '../config/index.js'
import { listenerId } from '../ir/index.js'
import type * as ir from '../ir/index.js'
import type { BoundVirtualService } from './binding.js'
import type { DestinationResolver } from './destinations.js'
import type { DiagSink } from './diagnostics.js'
import { compileSniRoutes, compileTcpRoute } from './l4-routes.js'
import { compileRouteTable, type RoutesFor, type VirtualHostMemo } from './route-table.js'
import { compileServerTls } from './server-tls.js'
import type { MeshIdentity } from './mesh-identity.js'
import type { GatewayServer, HttpPort } from './servers.js'
import { sourceRef } from './source-ref.js'

export function compileHttpListener(
  httpPort: HttpPort,
  settings: ir.GatewaySettings,
  bindings: readonly BoundVirtualService[],
  routesFor: RoutesFor,
  vhosts?: VirtualHostMemo,
): ir.Listener {
  const address = settings.bindAddress
  const memo = vhosts !== undefined ? { vhosts, scope: `http.${httpPort.port}` } : undefined
  return {
    id: listenerId(address, httpPort.port),
    address,
    port: httpPort.port,
    transport: 'http',
    servers: serverRefs(httpPort.servers),
    chains: [{ kind: 'http', routeTable: compileRouteTable(httpPort, bindings, routesFor, memo) }],
  }
}

export interface L4Compile {
  readonly bindings: readonly BoundVirtualService[]
  readonly routesFor: RoutesFor
  readonly destinations: DestinationResolver
  readonly certsDir: (gateway: istio.Gateway) => string
  readonly sink: DiagSink
  /** Receives each terminating server's certificate files (checked by runtime). */
  readonly assets?: ir.ServerTlsAssets[]
  /** GatewayConfig spec.meshIdentity, for ISTIO_MUTUAL servers. */
  readonly meshIdentity?: MeshIdentity
  /** Virtual hosts kept across compiles (route-table.ts), for `run`'s reloads. */
  readonly vhosts?: VirtualHostMemo
}

function serverRefs(servers: readonly GatewayServer[]): ir.ServerRef[] {
  return servers.map((s): ir.ServerRef => ({
    gateway: s.gatewayKey,
    ...(s.server.name !== undefined ? { name: s.server.name } : {}),
    portName: s.server.port.name,
    protocol: s.protocol,
    hosts: [...s.server.hosts],
    source: sourceRef(s.gateway, s.path),
  }))
}

const HTTP_SERVED: ReadonlySet<string> = new Set(['HTTPS', 'HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'])

function compileTlsChain(s: GatewayServer, port: number, c: L4Compile): ir.TlsFilterChain {
  const name = `${s.gatewayKey}/${s.server.port.name}`
  const tls = compileServerTls(s, c.certsDir(s.gateway), c.sink, c.assets, c.meshIdentity)
  const sniHosts = [...new Set(s.hosts.map((h) => h.host))]
  let service: ir.ChainService
  if (tls === undefined) {
    service = { kind: 'passthrough', routes: compileSniRoutes(s, port, c.bindings, c.destinations) }
    if (service.routes.length === 0) {
      c.sink.report(
        'PC3006',
        s.gateway,
        [...s.path, 'tls', 'mode'],
        `no VirtualService tls route (match.sniHosts) is bound to this PASSTHROUGH server, so its connections are closed`,
      )
    }
  } else if (HTTP_SERVED.has(s.protocol)) {
    const scope = `https.${port}.${name}`
    const memo = c.vhosts !== undefined ? { vhosts: c.vhosts, scope } : undefined
    const table = compileRouteTable({ port, servers: [s] }, c.bindings, c.routesFor, memo)
    service = { kind: 'http', routeTable: { ...table, name: scope } }
  } else {
    const route = compileTcpRoute(s, port, c.bindings, c.destinations)
    service = { kind: 'tcp', route }
    if (route === undefined) {
      c.sink.report(
        'PC3006',
        s.gateway,
        [...s.path, 'port', 'protocol'],
        `no VirtualService tcp route is bound to this TLS server, so its connections are closed after the handshake`,
      )
    }
  }
  return { kind: 'tls', name, sniHosts, tls, service }
}

/** A TLS port: one SNI chain per server, in file order (the data plane ranks them by host). */
export function compileTlsListener(
  tlsPort: HttpPort,
  settings: ir.GatewaySettings,
  c: L4Compile,
): ir.Listener {
  const address = settings.bindAddress
  return {
    id: listenerId(address, tlsPort.port),
    address,
    port: tlsPort.port,
    transport: 'tls',
    servers: serverRefs(tlsPort.servers),
    chains: tlsPort.servers.map((s) => compileTlsChain(s, tlsPort.port, c)),
  }
}

/** A TCP port: the first bound `tcp` route takes every connection. */
export function compileTcpListener(
  tcpPort: HttpPort,
  settings: ir.GatewaySettings,
  c: L4Compile,
): ir.Listener {
  const address = settings.bindAddress
  const server = tcpPort.servers[0]!
  const route = compileTcpRoute(server, tcpPort.port, c.bindings, c.destinations)
  if (route === undefined) {
    c.sink.report(
      'PC3006',
      server.gateway,
      [...server.path, 'port', 'protocol'],
      `no VirtualService tcp route is bound to this TCP server, so its connections are closed`,
    )
  }
  return {
    id: listenerId(address, tcpPort.port),
    address,
    port: tcpPort.port,
    transport: 'tcp',
    servers: serverRefs(tcpPort.servers),
    chains: [{ kind: 'tcp', route }],
  }
}
