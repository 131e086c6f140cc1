/**
 * VirtualService `tcp` and `tls` routes for one Gateway server (Istio's buildGatewayNetworkFilters
 * and the passthrough filter chains): a route applies when one of its matches keeps (port and
 * gateways fit; no match at all keeps). `tcp` routes: the first that applies takes every
 * connection of the server. `tls` routes: chosen per connection by SNI against `sniHosts`.
 * Destinations are weighted per connection; weight-0 destinations are skipped when there are
 * several, as for HTTP.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { intersectServerHosts, type BoundVirtualService } from './binding.js'
import type { DestinationResolver } from './destinations.js'
import { resolveGatewayName } from './names.js'
import type { GatewayServer } from './servers.js'
import { sourceRef } from './source-ref.js'

interface L4Match {
  readonly port?: number
  readonly gateways?: readonly string[]
}

function keeps(
  matches: readonly L4Match[] | undefined,
  ns: string,
  gatewayKey: string,
  port: number,
): boolean {
  if (matches === undefined || matches.length === 0) return true
  return matches.some(
    (m) =>
      (m.port === undefined || m.port === port) &&
      (m.gateways === undefined ||
        m.gateways.length === 0 ||
        m.gateways.some((g) => resolveGatewayName(g, ns) === gatewayKey)),
  )
}

function compileDestinations(
  vs: istio.VirtualService,
  kind: 'tcp' | 'tls',
  index: number,
  route: readonly { destination: istio.Destination; weight?: number }[],
  port: number,
  destinations: DestinationResolver,
): Pick<ir.L4Route, 'destinations' | 'totalWeight'> {
  const single = route.length === 1
  const out: ir.L4Destination[] = []
  route.forEach((rd, j) => {
    const weight = rd.weight ?? 0
    if (!single && weight <= 0) return
    const path = ['spec', kind, index, 'route', j, 'destination']
    const d = destinations.resolve(vs, rd.destination, path, port)
    out.push({ cluster: d.cluster, host: d.host, port: d.port, weight: single ? 1 : weight })
  })
  return { destinations: out, totalWeight: out.reduce((sum, d) => sum + d.weight, 0) }
}

function boundTo(server: GatewayServer, bindings: readonly BoundVirtualService[]) {
  const ns = server.gateway.metadata.namespace
  return bindings.filter(
    (b) =>
      b.gateways.has(server.gatewayKey) &&
      // A VS without hosts (allowed for tcp-only VirtualServices) binds by gateway alone.
      (b.hosts.length === 0 || intersectServerHosts(b, ns, server.hosts).length > 0),
  )
}

/** The `tcp` route that takes the server's connections, if any. */
export function compileTcpRoute(
  server: GatewayServer,
  port: number,
  bindings: readonly BoundVirtualService[],
  destinations: DestinationResolver,
): ir.L4Route | undefined {
  for (const b of boundTo(server, bindings)) {
    const ns = b.vs.metadata.namespace
    const tcp = b.vs.spec.tcp ?? []
    for (let i = 0; i < tcp.length; i++) {
      const r = tcp[i]!
      if (!keeps(r.match, ns, server.gatewayKey, port)) continue
      return {
        id: `${ns}/${b.vs.metadata.name}/tcp[${i}]`,
        ...compileDestinations(b.vs, 'tcp', i, r.route ?? [], port, destinations),
        source: sourceRef(b.vs, ['spec', 'tcp', i]),
      }
    }
  }
  return undefined
}

/** Every `tls` route match bound to a PASSTHROUGH server, in file order. */
export function compileSniRoutes(
  server: GatewayServer,
  port: number,
  bindings: readonly BoundVirtualService[],
  destinations: DestinationResolver,
): ir.SniRoute[] {
  const out: ir.SniRoute[] = []
  for (const b of boundTo(server, bindings)) {
    const ns = b.vs.metadata.namespace
    ;(b.vs.spec.tls ?? []).forEach((r, i) => {
      const sniHosts: string[] = []
      for (const m of r.match) {
        if (!keeps([m], ns, server.gatewayKey, port)) continue
        for (const h of m.sniHosts) {
          const host = h.toLowerCase()
          if (!sniHosts.includes(host)) sniHosts.push(host)
        }
      }
      if (sniHosts.length === 0) return
      out.push({
        id: `${ns}/${b.vs.metadata.name}/tls[${i}]`,
        sniHosts,
        ...compileDestinations(b.vs, 'tls', i, r.route ?? [], port, destinations),
        source: sourceRef(b.vs, ['spec', 'tls', i]),
      })
    })
  }
  return out
}
