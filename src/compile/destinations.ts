/**
 * Route destinations → cluster ids, and the clusters they need. A destination host resolves to
 * a ServiceEntry host (as written, or expanded the way Istio expands short names); its port is
 * the destination's, or the entry's only port; its subset comes from the DestinationRule.
 * Problems become warnings and the destination keeps its cluster id, so requests get 503 NC,
 * as in Istio when a cluster is missing.
 */
import { clusterId } from '../ir/index.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { buildCluster } from './clusters.js'
import { createDestinationRuleIndex } from './destination-rules.js'
import type { DiagSink } from './diagnostics.js'
import { expandShortName } from './names.js'
import { mergeTrafficPolicy } from './traffic-policy.js'
import { tlsFileBase } from './upstream-tls.js'
import { createServiceIndex, type ServiceMatch } from './service-entries.js'

export interface ResolvedDestination {
  readonly cluster: ir.ClusterId
  readonly host: string
  readonly subset?: string
  readonly port: number
}

export interface DestinationResolver {
  /**
   * `path` is the field path of the Destination inside `vs`; `listenPort` is the port the route
   * serves, which Istio uses when nothing else names a port.
   */
  resolve(
    vs: istio.VirtualService,
    destination: istio.Destination,
    path: istio.Path,
    listenPort: number,
  ): ResolvedDestination
  /** Every cluster a resolved destination needs, keyed and sorted by id. */
  clusters(): Record<ir.ClusterId, ir.Cluster>
}

function names(host: string, namespace: string): string[] {
  const written = host.toLowerCase()
  const expanded = expandShortName(host, namespace)
  return expanded === written ? [written] : [written, expanded]
}

export function createDestinationResolver(
  resources: istio.ResourceSet,
  sink: DiagSink,
): DestinationResolver {
  const services = createServiceIndex(resources.serviceEntries)
  const rules = createDestinationRuleIndex(resources.destinationRules)
  const built = new Map<ir.ClusterId, ir.Cluster>()

  function findService(
    candidates: readonly string[],
    ns: string,
  ): { match: ServiceMatch; host: string } | undefined {
    for (const name of candidates) {
      const match = services.find(name, ns)
      if (match !== undefined) return { match, host: name }
    }
    return undefined
  }

  function resolve(
    vs: istio.VirtualService,
    d: istio.Destination,
    path: istio.Path,
    listenPort: number,
  ): ResolvedDestination {
    const ns = vs.metadata.namespace
    const candidates = names(d.host, ns)
    const found = findService(candidates, ns)
    const subsetName = d.subset
    const subsetField = subsetName !== undefined ? { subset: subsetName } : {}
    if (found === undefined) {
      // Istio names the cluster after the expanded host and, without a port, the listener port.
      const host = candidates[candidates.length - 1]!
      const port = d.port?.number ?? listenPort
      sink.report(
        'PC2002',
        vs,
        [...path, 'host'],
        `no ServiceEntry has host "${host}"${host !== d.host ? ` (from "${d.host}")` : ''} or a wildcard covering it, so requests to this destination get 503 NC; add a ServiceEntry for it`,
      )
      return { cluster: clusterId(port, subsetName, host), host, ...subsetField, port }
    }
    const { match, host } = found
    const sePorts = match.se.spec.ports ?? []
    const seName = `ServiceEntry ${match.se.metadata.namespace}/${match.se.metadata.name}`
    let port = d.port?.number
    if (port === undefined) {
      const only = sePorts.length === 1 ? sePorts[0] : undefined
      if (only !== undefined) port = only.number
      else {
        sink.report(
          'PC2005',
          vs,
          path,
          sePorts.length === 0
            ? `${seName} for "${host}" has no ports; name a port it serves`
            : `${seName} for "${host}" has ports ${sePorts.map((p) => p.number).join(', ')}; set port.number to pick one`,
        )
        port = listenPort
      }
    }
    const result = { cluster: clusterId(port, subsetName, host), host, ...subsetField, port }
    const sePort = sePorts.find((p) => p.number === port)
    if (sePort === undefined) {
      if (d.port !== undefined) {
        sink.report(
          'PC2007',
          vs,
          [...path, 'port', 'number'],
          `${seName} for "${host}" has no port ${port} (it has ${sePorts.map((p) => p.number).join(', ') || 'none'}), so requests to this destination get 503 NC`,
        )
      }
      return result
    }
    let subset: { name: string; labels: Readonly<Record<string, string>> } | undefined
    const dr = rules.find(host, ns)
    let subsetPolicy: istio.DestinationRuleSpec['trafficPolicy']
    if (subsetName !== undefined) {
      const def = dr?.spec.subsets?.find((s) => s.name === subsetName)
      if (def === undefined) {
        sink.report(
          'PC2003',
          vs,
          [...path, 'subset'],
          dr === undefined
            ? `subset "${subsetName}" needs a DestinationRule for host "${host}" and there is none, so requests to this destination get 503 NC`
            : `DestinationRule ${dr.metadata.namespace}/${dr.metadata.name} (host ${dr.spec.host}) has no subset "${subsetName}" (it has ${(dr.spec.subsets ?? []).map((s) => s.name).join(', ') || 'none'}), so requests to this destination get 503 NC`,
        )
        return result
      }
      subset = { name: subsetName, labels: def.labels ?? {} }
      subsetPolicy = def.trafficPolicy
    }
    if (!built.has(result.cluster)) {
      const components = mergeTrafficPolicy(dr?.spec.trafficPolicy, subsetPolicy, port)
      const tlsBase = dr !== undefined ? tlsFileBase(resources.gatewayConfig, dr) : undefined
      built.set(result.cluster, buildCluster(match, host, sePort, subset, components, tlsBase))
    }
    return result
  }

  return {
    resolve,
    clusters() {
      const out: Record<ir.ClusterId, ir.Cluster> = {}
      for (const id of [...built.keys()].sort()) out[id] = built.get(id)!
      return out
    },
  }
}
