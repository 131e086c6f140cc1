/**
 * VirtualService `tls` and `tcp` routes bound to `mesh` → the outbound side's L4 routes
 * (ir.MeshL4Route), which CONNECT tunnels and SNI egress connections follow as an Istio sidecar
 * follows its outbound TLS/TCP filter chains: Istio's "egress gateway" tasks route
 * `edition.cnn.com:443` (or `*.wikipedia.org`) to the egress gateway's service this way. A match
 * applies to the mesh when it names no gateways or names `mesh`; `tls` matches by sniHosts
 * (and port), `tcp` by the VirtualService's hosts (and port). Destinations keep their host and
 * port: the data plane decides them against the allowlist like any destination, so the egress
 * gateway needs a ServiceEntry (or a registered host) here, as it needs a Service in a cluster.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { BoundVirtualService } from './binding.js'
import type { DiagSink } from './diagnostics.js'
import { MESH_GATEWAY, resolveGatewayName } from './names.js'
import { sourceRef } from './source-ref.js'
import { hasOutboundListener } from './outbound-listeners.js'

interface L4Match {
  readonly port?: number
  readonly gateways?: readonly string[]
}

type RouteDestination = { readonly destination: istio.Destination; readonly weight?: number }

/** Spread into ir.Egress: the mesh L4 routes, or nothing when there are none. */
export function compileMeshL4Routes(bindings: readonly BoundVirtualService[]): {
  readonly meshL4Routes?: readonly ir.MeshL4Route[]
} {
  const out: ir.MeshL4Route[] = []
  for (const b of bindings) {
    const vs = b.vs
    const ns = vs.metadata.namespace
    if (!isMeshBound(vs.spec.gateways, ns)) continue
    const name = `${ns}/${vs.metadata.name}`
    ;(vs.spec.tls ?? []).forEach((r, i) => {
      for (const m of r.match) {
        if (!appliesToMesh(m, ns)) continue
        out.push({
          id: `${name}/tls[${i}]`,
          kind: 'tls',
          port: m.port,
          hosts: m.sniHosts.map((h) => h.toLowerCase()),
          destinations: destinationsOf(r.route ?? []),
          source: sourceRef(vs, ['spec', 'tls', i]),
        })
      }
    })
    ;(vs.spec.tcp ?? []).forEach((r, i) => {
      const matches: readonly L4Match[] = r.match ?? []
      const ports = matches.length === 0 ? [undefined] : matchPorts(matches, ns)
      for (const port of ports) {
        out.push({
          id: `${name}/tcp[${i}]`,
          kind: 'tcp',
          port,
          hosts: b.hosts,
          destinations: destinationsOf(r.route ?? []),
          source: sourceRef(vs, ['spec', 'tcp', i]),
        })
      }
    })
  }
  return out.length > 0 ? { meshL4Routes: out } : {}
}

function isMeshBound(gateways: readonly string[] | undefined, ns: string): boolean {
  if (gateways === undefined || gateways.length === 0) return true
  return gateways.some((g) => resolveGatewayName(g, ns) === MESH_GATEWAY)
}

function appliesToMesh(m: L4Match, ns: string): boolean {
  return m.gateways === undefined || m.gateways.length === 0 || isMeshBound(m.gateways, ns)
}

/** The ports of the matches that apply to the mesh (undefined: any port). */
function matchPorts(matches: readonly L4Match[], ns: string): (number | undefined)[] {
  const ports: (number | undefined)[] = []
  for (const m of matches) {
    if (appliesToMesh(m, ns) && !ports.includes(m.port)) ports.push(m.port)
  }
  return ports
}

function destinationsOf(route: readonly RouteDestination[]): ir.MeshL4Route['destinations'] {
  const single = route.length === 1
  return route
    .filter((rd) => single || (rd.weight ?? 0) > 0)
    .map((rd) => ({
      host: rd.destination.host.toLowerCase(),
      port: rd.destination.port?.number,
      weight: single ? 1 : (rd.weight ?? 0),
    }))
}

/**
 * What validate says about mesh tls/tcp routes, so none is ignored silently: PC2014 when this
 * instance has no outbound listener and no SNI egress port for them to apply to, or when a
 * destination host is no ServiceEntry host (the allowlist would refuse what the route takes).
 */
export function reportMeshL4Routes(
  resources: istio.ResourceSet,
  bindings: readonly BoundVirtualService[],
  sink: DiagSink,
): void {
  const config = resources.gatewayConfig?.spec
  const hasOutboundSide = hasOutboundListener(config) || (config?.egress?.sniPorts ?? []).length > 0
  const registered = resources.serviceEntries.flatMap((se) =>
    se.spec.hosts.map((h) => h.toLowerCase()),
  )
  for (const b of bindings) {
    const vs = b.vs
    const ns = vs.metadata.namespace
    if (!isMeshBound(vs.spec.gateways, ns)) continue
    const kinds: readonly [
      'tls' | 'tcp',
      readonly { match?: readonly L4Match[]; route?: readonly RouteDestination[] }[],
    ][] = [
      ['tls', vs.spec.tls ?? []],
      ['tcp', vs.spec.tcp ?? []],
    ]
    for (const [kind, routes] of kinds) {
      routes.forEach((r, i) => {
        const matches = r.match ?? []
        if (matches.length > 0 && !matches.some((m) => appliesToMesh(m, ns))) return
        if (!hasOutboundSide) {
          sink.report(
            'PC2014',
            vs,
            ['spec', kind, i],
            `this ${kind} route is bound to mesh, which the outbound listener and SNI egress ports apply; GatewayConfig sets neither outbound nor egress.sniPorts, so it has no effect here`,
          )
          return
        }
        ;(r.route ?? []).forEach((rd, j) => {
          const host = rd.destination.host.toLowerCase()
          if (
            registered.some((h) => h === host || (h.startsWith('*.') && host.endsWith(h.slice(1))))
          )
            return
          sink.report(
            'PC2014',
            vs,
            ['spec', kind, i, 'route', j, 'destination', 'host'],
            `${host} is no ServiceEntry host: connections this route takes there are refused by the egress allowlist`,
          )
        })
      })
    }
  }
}
