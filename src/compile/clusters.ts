/**
 * One upstream cluster (ServiceEntry host + port + optional subset) with its endpoints, as
 * Istio builds `outbound|<port>|<subset>|<host>` clusters from a ServiceEntry.
 */
import { isWildcardHost } from '../lib/index.js'
import { clusterId } from '../ir/index.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { ServiceMatch } from './service-entries.js'
import { sourceRef } from './source-ref.js'
import { compileClusterPolicy } from './traffic-policy.js'
import type { TrafficComponents } from './traffic-policy.js'
import type { TlsFileBase } from './upstream-tls.js'

type ServicePort = NonNullable<istio.ServiceEntrySpec['ports']>[number]

/** Minimum DNS refresh when an answer's TTL is shorter. */
export const DNS_REFRESH_MS = 5000
/** Istio's default upstream connect timeout (MeshConfig connectTimeout). */
export const CONNECT_TIMEOUT_MS = 10_000

const PROTOCOL_BY_PREFIX: Readonly<Record<string, ir.ServiceProtocol>> = {
  http: 'HTTP',
  http2: 'HTTP2',
  https: 'HTTPS',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-WEB',
  tcp: 'TCP',
  tls: 'TLS',
  mongo: 'MONGO',
  udp: 'UDP',
}

/**
 * The port's protocol; without one, Istio's port-naming convention (`http`, `http-api`,
 * `grpc-x`, ...): the part of the name before the first `-`.
 */
export function portProtocol(port: ServicePort): ir.ServiceProtocol {
  if (port.protocol !== undefined) return port.protocol
  const name = port.name.toLowerCase()
  const dash = name.indexOf('-')
  return PROTOCOL_BY_PREFIX[dash < 0 ? name : name.slice(0, dash)] ?? 'UNSPECIFIED'
}

function selects(
  subsetLabels: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(subsetLabels).every(([k, v]) => labels[k] === v)
}

function endpointsOf(
  se: istio.ServiceEntry,
  host: string,
  port: ServicePort,
  subsetLabels: Readonly<Record<string, string>>,
): ir.Endpoint[] {
  const resolution = se.spec.resolution ?? 'NONE'
  // NONE forwards to the original destination; DYNAMIC_DNS resolves the request's own name.
  if (resolution === 'NONE' || resolution === 'DYNAMIC_DNS') return []
  const defaultPort = port.targetPort ?? port.number
  const listed = se.spec.endpoints ?? []
  if (listed.length === 0) {
    if (resolution === 'STATIC' || isWildcardHost(host)) return []
    // DNS without endpoints: Istio resolves the service's own host name.
    const ep: ir.Endpoint = { address: host, port: defaultPort, weight: 1, labels: {} }
    return selects(subsetLabels, ep.labels) ? [ep] : []
  }
  const out: ir.Endpoint[] = []
  for (const e of listed) {
    if (e.address === undefined || e.address === '') continue
    const labels = e.labels ?? {}
    if (!selects(subsetLabels, labels)) continue
    out.push({
      address: e.address,
      port: e.ports?.[port.name] ?? defaultPort,
      // Envoy has no weight 0: Istio sends 1 for an unset weight.
      weight: e.weight !== undefined && e.weight > 0 ? e.weight : 1,
      labels: { ...labels },
      ...(e.locality !== undefined && e.locality !== '' ? { locality: e.locality } : {}),
    })
  }
  return out
}

export function buildCluster(
  match: ServiceMatch,
  host: string,
  port: ServicePort,
  subset: { readonly name: string; readonly labels: Readonly<Record<string, string>> } | undefined,
  components: TrafficComponents = {},
  tlsBase?: TlsFileBase,
): ir.Cluster {
  const { se } = match
  const id = clusterId(port.number, subset?.name, host)
  // ISTIO_MUTUAL's SNI and ALPN depend on the cluster's name and protocol.
  const tlsFor =
    tlsBase !== undefined ? { ...tlsBase, cluster: id, protocol: portProtocol(port) } : undefined
  const { policy, connectTimeoutMs } = compileClusterPolicy(components, host, tlsFor)
  return {
    id,
    host,
    port: port.number,
    ...(subset !== undefined ? { subset: subset.name } : {}),
    protocol: portProtocol(port),
    resolution: se.spec.resolution ?? 'NONE',
    endpoints: endpointsOf(se, host, port, subset?.labels ?? {}),
    dnsRefreshMs: DNS_REFRESH_MS,
    connectTimeoutMs: connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    ...(policy !== undefined ? { policy } : {}),
    source: sourceRef(se, ['spec', 'hosts', match.hostIndex]),
  }
}
