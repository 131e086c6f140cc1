/**
 * ServiceEntries, the outbound traffic policy and mesh-bound VirtualServices → the egress part
 * of the snapshot. Every ServiceEntry is an allowlist entry (hosts, ports, addresses); the
 * outbound listener plays the sidecar's role, so VirtualServices bound to `mesh` (or to no
 * Gateway) get a route table per destination port there, and every registered host that has
 * endpoints gets a default route to its cluster, so a ServiceEntry alone is enough.
 */
import { isWildcardHost } from '../lib/index.js'
import { listenerId } from '../ir/index.js'
import { compileOutboundListeners } from './outbound-listeners.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { BoundVirtualService } from './binding.js'
import { moveCatchAllsLast } from './catch-all.js'
import { portProtocol } from './clusters.js'
import { compileMeshL4Routes } from './mesh-l4-routes.js'
import { MESH_GATEWAY, resolveGatewayName } from './names.js'
import type { DiagSink } from './diagnostics.js'
import { DEFAULT_MESH_NAMESPACE, alternativeNames, meshDomains } from './mesh-domains.js'
import { selectSidecars } from './mesh-sidecars.js'
import { createServiceIndex } from './service-entries.js'
import { compareHostPrecedence, type RoutesFor } from './route-table.js'
import { sourceRef } from './source-ref.js'

/** Protocols a plain-HTTP request to the outbound listener can be routed for. */
const HTTP_PROTOCOLS: ReadonlySet<ir.ServiceProtocol> = new Set([
  'HTTP',
  'HTTP2',
  'GRPC',
  'GRPC-WEB',
  'UNSPECIFIED',
])

/** Resolutions whose clusters carry endpoints; the others are resolved per request. */
const WITH_ENDPOINTS: ReadonlySet<ir.Resolution> = new Set(['DNS', 'DNS_ROUND_ROBIN', 'STATIC'])

/** Port a plain-HTTP proxy request names when its URL has none. */
const DEFAULT_HTTP_PORT = 80

export interface EgressInputs {
  readonly resources: istio.ResourceSet
  readonly settings: ir.GatewaySettings
  readonly bindings: readonly BoundVirtualService[]
  readonly routesFor: RoutesFor
  /** Where the notes about unbacked mesh hosts go (absent in unit tests that do not read them). */
  readonly sink?: DiagSink
  /** The Gateway listeners, so an outbound port they bind is reported (PC1705). */
  readonly gatewayListeners?: readonly ir.Listener[]
}

/** What the route tables collect across ports: alternative names and unbacked hosts. */
interface MeshNames {
  readonly namespace: string
  readonly aliases: Map<string, string>
  readonly unbacked: Set<string>
}

/**
 * True when a ServiceEntry registers `host` or a name it covers: the same name, an entry
 * wildcard covering it, or (for a wildcard or `*` VirtualService host) an entry host inside it.
 */
function isBacked(host: string, serviceEntries: readonly istio.ServiceEntry[]): boolean {
  const covers = (pattern: string, name: string): boolean =>
    pattern === '*' || (isWildcardHost(pattern) && name.endsWith(pattern.slice(1)))
  return serviceEntries.some((se) =>
    se.spec.hosts.some((raw) => {
      const h = raw.toLowerCase()
      return h === host || covers(h, host) || covers(host, h)
    }),
  )
}

/** True when the VirtualService applies to the mesh: no `gateways`, or `mesh` among them. */
export function isMeshBound(vs: istio.VirtualService): boolean {
  const refs = vs.spec.gateways ?? []
  if (refs.length === 0) return true
  return refs.some((r) => resolveGatewayName(r, vs.metadata.namespace) === MESH_GATEWAY)
}

export function compileEgressServices(
  serviceEntries: readonly istio.ServiceEntry[],
): ir.EgressService[] {
  return serviceEntries.map((se) => {
    const resolution = se.spec.resolution ?? 'NONE'
    return {
      name: `${se.metadata.namespace}/${se.metadata.name}`,
      hosts: se.spec.hosts.map((h) => h.toLowerCase()),
      ports: (se.spec.ports ?? []).map((p) => {
        const targetPort = p.targetPort ?? p.number
        const port = { number: p.number, protocol: portProtocol(p), targetPort }
        if (resolution !== 'STATIC') return port
        const endpoints = (se.spec.endpoints ?? []).flatMap((e) =>
          e.address ? [{ address: e.address, port: e.ports?.[p.name] ?? targetPort }] : [],
        )
        return endpoints.length > 0 ? { ...port, endpoints } : port
      }),
      addresses: [...(se.spec.addresses ?? [])],
      resolution,
      endpointAddresses:
        resolution === 'STATIC'
          ? (se.spec.endpoints ?? []).flatMap((e) => (e.address ? [e.address] : []))
          : [],
      source: sourceRef(se, ['spec', 'hosts']),
    }
  })
}

/**
 * The policy: GatewayConfig sets mode and enforcement (Istio's mesh default is ALLOW_ANY); a
 * Sidecar's outboundTrafficPolicy overrides the mode, and Sidecar egress hosts narrow the scope.
 */
export function compileEgressPolicy(
  config: istio.GatewayConfig | undefined,
  sidecars: readonly istio.Sidecar[],
): ir.EgressPolicy {
  const otp = config?.spec.outboundTrafficPolicy
  let mode: ir.EgressMode = otp?.mode ?? 'ALLOW_ANY'
  const sidecarMode = sidecars.find((s) => s.spec.outboundTrafficPolicy?.mode !== undefined)
  if (sidecarMode?.spec.outboundTrafficPolicy?.mode !== undefined) {
    mode = sidecarMode.spec.outboundTrafficPolicy.mode
  }
  const scoped = sidecars.filter((s) => (s.spec.egress?.length ?? 0) > 0)
  let scope: string[] | undefined
  if (scoped.length > 0) {
    scope = []
    for (const sc of scoped) {
      for (const listener of sc.spec.egress ?? []) {
        for (const h of listener.hosts) {
          const slash = h.indexOf('/')
          // `~/...` imports nothing.
          if (h.slice(0, slash) === '~') continue
          const name = h.slice(slash + 1).toLowerCase()
          if (!scope.includes(name)) scope.push(name)
        }
      }
    }
  }
  return {
    mode,
    enforcement: otp?.enforcement ?? 'enforce',
    allowPrivateAddresses: otp?.allowPrivateAddresses ?? false,
    ...(scope !== undefined ? { scope } : {}),
  }
}

/** A VirtualService standing for "a ServiceEntry alone": every request to the host and port. */
function defaultRouteFor(se: istio.ServiceEntry, host: string, port: number): istio.VirtualService {
  return {
    ...se,
    kind: 'VirtualService',
    spec: {
      hosts: [host],
      http: [
        {
          name: `egress:${host}:${port}`,
          route: [{ destination: { host, port: { number: port } } }],
        },
      ],
    },
  } as unknown as istio.VirtualService
}

function httpPorts(
  services: readonly istio.ServiceEntry[],
  meshBound: readonly BoundVirtualService[],
): number[] {
  const ports = new Set<number>([DEFAULT_HTTP_PORT])
  for (const se of services) {
    for (const p of se.spec.ports ?? [])
      if (HTTP_PROTOCOLS.has(portProtocol(p))) ports.add(p.number)
  }
  for (const b of meshBound) {
    for (const r of b.vs.spec.http ?? []) {
      for (const m of r.match ?? []) if (m.port !== undefined) ports.add(m.port)
    }
  }
  return [...ports].sort((a, b) => a - b)
}

function routeTableFor(
  port: number,
  meshBound: readonly BoundVirtualService[],
  serviceEntries: readonly istio.ServiceEntry[],
  routesFor: RoutesFor,
  names: MeshNames | undefined,
): ir.RouteTable {
  const hosts = new Map<string, ir.HttpRoute[]>()
  for (const bound of meshBound) {
    const routes = routesFor(bound, MESH_GATEWAY, port)
    if (routes.length === 0) continue
    for (const host of bound.hosts) {
      // Istio builds a VirtualService host no service backs on port 80 only.
      if (!isBacked(host, serviceEntries)) {
        if (port !== DEFAULT_HTTP_PORT) continue
        names?.unbacked.add(`${host}:${port}`)
      }
      let list = hosts.get(host)
      if (list === undefined) hosts.set(host, (list = []))
      list.push(...routes)
    }
  }
  const index = createServiceIndex(serviceEntries)
  for (const se of serviceEntries) {
    if (!WITH_ENDPOINTS.has(se.spec.resolution ?? 'NONE')) continue
    const sePort = (se.spec.ports ?? []).find((p) => p.number === port)
    if (sePort === undefined || !HTTP_PROTOCOLS.has(portProtocol(sePort))) continue
    for (const raw of se.spec.hosts) {
      const host = raw.toLowerCase()
      if (isWildcardHost(host) || hosts.has(host)) continue
      // Only the entry destinations resolve to may route the host: a second entry for the
      // same host with other ports must not turn this port into a 503 NC (the allowlist
      // still admits it, and it is forwarded directly).
      if (index.find(host, se.metadata.namespace)?.se !== se) continue
      const synthetic = defaultRouteFor(se, host, port)
      const routes = routesFor(
        { vs: synthetic, hosts: [host], gateways: new Set() },
        MESH_GATEWAY,
        port,
      )
      hosts.set(host, [...routes])
    }
  }
  // A name two hosts could claim goes to the first, in host precedence, as Istio dedupes them.
  const taken = new Set<string>()
  const virtualHosts: ir.VirtualHost[] = [...hosts.keys()].sort(compareHostPrecedence).map((h) => {
    const all = names === undefined ? [h] : meshDomains(h, port, names.namespace)
    const domains = all.filter((d) => !taken.has(d))
    for (const d of domains) taken.add(d)
    if (names !== undefined) {
      for (const alt of alternativeNames(h, names.namespace)) {
        if (!names.aliases.has(alt)) names.aliases.set(alt, h)
      }
    }
    return {
      name: `${h}:${port}`,
      domains,
      requireTls: false,
      routes: moveCatchAllsLast(hosts.get(h)!),
    }
  })
  return { name: `egress.${port}`, virtualHosts }
}

/**
 * Snapshots carry an egress part only when the file configures something about egress, so
 * configurations without it keep their snapshot (and hash) unchanged.
 */
export function isEgressConfigured(resources: istio.ResourceSet): boolean {
  const spec = resources.gatewayConfig?.spec
  return (
    spec?.outbound !== undefined ||
    spec?.outboundTrafficPolicy !== undefined ||
    spec?.dns !== undefined ||
    spec?.egress !== undefined ||
    resources.sidecars.length > 0
  )
}

/** GatewayConfig.spec.egress.sniPorts → one pass-through listener per port. */
function compileSniListeners(
  config: istio.GatewayConfig['spec'] | undefined,
  settings: ir.GatewaySettings,
): ir.OutboundListener[] {
  const address = config?.egress?.address ?? settings.bindAddress
  const mapped = (config?.egress?.sniPortMappings ?? []).map((m) => m.port)
  const ports = [...new Set([...(config?.egress?.sniPorts ?? []), ...mapped])].sort((a, b) => a - b)
  return ports.map((port) => ({ id: listenerId(address, port), address, port }))
}

/** GatewayConfig.spec.egress.httpPorts → the default-route table of each Gateway HTTP port. */
function compileHttpListeners(
  config: istio.GatewayConfig['spec'] | undefined,
  settings: ir.GatewaySettings,
  serviceEntries: readonly istio.ServiceEntry[],
  routesFor: RoutesFor,
): ir.EgressHttpListener[] {
  const ports = [...new Set(config?.egress?.httpPorts ?? [])].sort((a, b) => a - b)
  return ports.map((port) => ({
    id: listenerId(settings.bindAddress, port),
    port,
    routeTable: routeTableFor(port, [], serviceEntries, routesFor, undefined),
  }))
}

export function compileEgress(inputs: EgressInputs): ir.Egress {
  const { resources, settings, bindings, routesFor } = inputs
  const config = resources.gatewayConfig?.spec
  const sidecars = selectSidecars(
    resources.sidecars,
    settings,
    config?.outbound?.namespace ?? DEFAULT_MESH_NAMESPACE,
    inputs.sink,
  )
  const policy = compileEgressPolicy(resources.gatewayConfig, sidecars)
  const services = compileEgressServices(resources.serviceEntries)
  const dnsServers = [...(config?.dns?.servers ?? [])]
  const sniListeners = compileSniListeners(config, settings)
  const httpListeners = compileHttpListeners(config, settings, resources.serviceEntries, routesFor)
  const mappings = config?.egress?.sniPortMappings ?? []
  const sniServicePorts = Object.fromEntries(
    [...mappings].sort((a, b) => a.port - b.port).map((m) => [String(m.port), m.servicePort]),
  )
  const sni = {
    ...(sniListeners.length > 0 ? { sniListeners } : {}),
    ...(mappings.length > 0 ? { sniServicePorts } : {}),
    ...(httpListeners.length > 0 ? { httpListeners } : {}),
    ...compileMeshL4Routes(bindings),
  }
  const out = config?.outbound
  const outbound = compileOutboundListeners({
    gatewayConfig: resources.gatewayConfig,
    settings,
    ...(inputs.gatewayListeners !== undefined ? { gatewayListeners: inputs.gatewayListeners } : {}),
    ...(inputs.sink !== undefined ? { sink: inputs.sink } : {}),
  })
  if (out === undefined || outbound.length === 0) {
    return { policy, services, ...sni, routeTables: {}, dnsServers }
  }
  const meshBound = bindings.filter((b) => isMeshBound(b.vs))
  const names: MeshNames = {
    namespace: out.namespace ?? DEFAULT_MESH_NAMESPACE,
    aliases: new Map(),
    unbacked: new Set(),
  }
  const routeTables: Record<string, ir.RouteTable> = {}
  for (const port of httpPorts(resources.serviceEntries, meshBound)) {
    routeTables[String(port)] = routeTableFor(
      port,
      meshBound,
      resources.serviceEntries,
      routesFor,
      names,
    )
  }
  if (inputs.sink !== undefined) noteUnbacked(meshBound, resources.serviceEntries, inputs.sink)
  const meshAliases = Object.fromEntries([...names.aliases].sort(([a], [b]) => (a < b ? -1 : 1)))
  return {
    policy,
    services,
    outbound: outbound[0]!,
    ...(outbound.length > 1 ? { outboundListeners: outbound } : {}),
    ...sni,
    routeTables,
    dnsServers,
    ...(names.aliases.size > 0 ? { meshAliases } : {}),
    ...(names.unbacked.size > 0 ? { unbackedHosts: [...names.unbacked].sort() } : {}),
  }
}

/** `validate` says how each mesh VirtualService host without a ServiceEntry is served. */
function noteUnbacked(
  meshBound: readonly BoundVirtualService[],
  serviceEntries: readonly istio.ServiceEntry[],
  sink: DiagSink,
): void {
  for (const bound of meshBound) {
    const written = bound.vs.spec.hosts ?? []
    bound.hosts.forEach((host, i) => {
      if (isBacked(host, serviceEntries)) return
      sink.report(
        'PC2015',
        bound.vs,
        ['spec', 'hosts', i],
        `no ServiceEntry registers "${host}", so the outbound listener serves "${written[i] ?? host}" with this VirtualService on port 80 only (as Istio's sidecar does), whatever outboundTrafficPolicy says. Add a ServiceEntry to serve it on other ports`,
      )
    })
  }
}
