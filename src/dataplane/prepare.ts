/**
 * Everything per-request work needs, derived once per snapshot: compiled route tables, cluster
 * runtimes (kept across reloads by the upstream registry) and per-route data (header plans,
 * rewrites, retry policy, destination runtimes). Requests read it and never look at config.
 */
import type * as ir from '../ir/index.js'
import { egressRouteTableId, tlsChainId } from '../ir/index.js'
import { compileEgressMatcher, compileRouteTable } from '../match/index.js'
import type { CompiledRouteTable, EgressMatcher } from '../match/index.js'
import { prepareCors } from './http/cors-policy.js'
import type { PreparedCors } from './http/cors-policy.js'
import { compileHeaderPlan } from './http/header-plan.js'
import type { PreparedMirror } from './http/mirror-policy.js'
import type { HeaderPlan } from './http/header-plan.js'
import { prepareRateLimits } from './http/rate-limit-policy.js'
import type { PreparedRateLimits, RateLimitDeps } from './http/rate-limit-policy.js'
import { prepareRetry } from './http/retry-policy.js'
import type { PreparedRetry } from './http/retry-policy.js'
import { matchedPrefixLengths, preparePathRewrite } from './http/rewrite.js'
import type { PathRewrite } from './http/rewrite.js'
import type { ClusterRuntime } from './upstream/cluster-runtime.js'
import type { UpstreamRegistry } from './upstream/registry.js'

export interface PreparedDestination {
  readonly destination: ir.RouteDestination
  readonly clusterId: ir.ClusterId
  /** The destination host (the ServiceEntry host), for metrics. */
  readonly service: string
  /** Undefined when the cluster is not in the snapshot: requests get 503 NC. */
  readonly cluster: ClusterRuntime | undefined
  /** Destination then route request header operations, folded. */
  readonly requestPlan: HeaderPlan
  readonly responsePlan: HeaderPlan
  /** Host for the upstream request; undefined keeps the client's Host (Istio's default). */
  readonly authority: string | undefined
}

export interface PreparedRoute {
  readonly route: ir.HttpRoute
  /** What logs and metrics call the route: its name, else its id. */
  readonly logName: string
  readonly action: ir.RouteAction
  readonly destinations: readonly PreparedDestination[]
  readonly totalWeight: number
  /** Route-level response operations, for replies made without a destination. */
  readonly responsePlan: HeaderPlan
  readonly rewrite: PathRewrite | undefined
  /** Per match entry: path characters a prefix swap replaces (-1: the whole path). */
  readonly prefixLengths: readonly number[]
  readonly retry: PreparedRetry
  readonly timeoutMs: number | undefined
  readonly directBody: Buffer | undefined
  readonly fault: ir.FaultPolicy | undefined
  readonly cors: PreparedCors | undefined
  readonly mirrors: readonly PreparedMirror[]
  /** The RateLimitPolicy rules on this route; undefined costs the request nothing. */
  readonly rateLimits: PreparedRateLimits | undefined
}

/** A Gateway HTTP listener whose unrouted Hosts the egress allowlist decides (httpPorts). */
export interface PreparedEgressPort {
  readonly port: number
  /** Default routes to the registered hosts on this port. */
  readonly defaults: CompiledRouteTable
  readonly matcher: EgressMatcher
  /** Checks the addresses the default routes' clusters resolved (forward.ts). */
  readonly guard: { readonly matcher: EgressMatcher }
}

export interface PreparedSnapshot {
  readonly snapshot: ir.Snapshot
  /** The route table of every plain-HTTP listener, by listener id. */
  readonly routeTables: ReadonlyMap<ir.ListenerId, CompiledRouteTable>
  /** Listeners with egress.httpPorts, by listener id; undefined when there are none. */
  readonly egressPorts: ReadonlyMap<ir.ListenerId, PreparedEgressPort> | undefined
  readonly clusters: ReadonlyMap<ir.ClusterId, ClusterRuntime>
  readonly routes: ReadonlyMap<ir.HttpRoute, PreparedRoute>
  readonly serverHeader: string | undefined
  readonly numTrustedProxies: number
}

/**
 * Prepares a snapshot for serving. Cluster runtimes are acquired from `upstreams` (reused when
 * unchanged); pair every successful call with exactly one releaseSnapshot. Throws when the
 * snapshot carries something that cannot run (a regex RE2 refuses), having released what it took.
 */
export function prepareSnapshot(
  snapshot: ir.Snapshot,
  upstreams: UpstreamRegistry,
  limits?: RateLimitDeps,
): PreparedSnapshot {
  const routeTables = new Map<ir.ListenerId, CompiledRouteTable>()
  const routes = new Map<ir.HttpRoute, PreparedRoute>()
  const clusters = new Map<ir.ClusterId, ClusterRuntime>()
  let egressPorts: Map<ir.ListenerId, PreparedEgressPort> | undefined
  try {
    for (const listener of snapshot.listeners) {
      for (const chain of listener.chains) {
        if (chain.kind === 'http') routeTables.set(listener.id, compileRouteTable(chain.routeTable))
        // Terminated HTTPS: one route table per server, served under the chain's id.
        else if (chain.kind === 'tls' && chain.service.kind === 'http') {
          routeTables.set(
            tlsChainId(listener.id, chain.name),
            compileRouteTable(chain.service.routeTable),
          )
        }
      }
    }
    const rateLimits = prepareRateLimits(snapshot.rateLimits, limits)
    // The outbound listener's tables, one per destination port (compile/egress.ts).
    const egress = snapshot.egress
    if (egress?.outbound !== undefined) {
      for (const [port, table] of Object.entries(egress.routeTables)) {
        routeTables.set(
          egressRouteTableId(egress.outbound.id, Number(port)),
          compileRouteTable(table),
        )
      }
    }
    // Gateway HTTP ports with Host egress: their default routes, served under their own ids.
    const httpListeners = egress?.httpListeners ?? []
    if (httpListeners.length > 0) {
      const matcher = compileEgressMatcher(egress!)
      egressPorts = new Map()
      for (const l of httpListeners) {
        const defaults = compileRouteTable(l.routeTable)
        routeTables.set(egressRouteTableId(l.id, l.port), defaults)
        egressPorts.set(l.id, { port: l.port, defaults, matcher, guard: { matcher } })
      }
    }
    for (const cluster of Object.values(snapshot.clusters)) {
      clusters.set(cluster.id, upstreams.acquire(cluster))
    }
    for (const table of routeTables.values()) {
      for (const vh of table.virtualHosts) {
        for (const r of vh.routes) {
          if (!routes.has(r.route)) {
            routes.set(r.route, prepareRoute(r.route, clusters, rateLimits.get(r.route.id)))
          }
        }
      }
    }
  } catch (err) {
    for (const runtime of clusters.values()) upstreams.release(runtime)
    throw err
  }
  return {
    snapshot,
    routeTables,
    egressPorts,
    clusters,
    routes,
    serverHeader: snapshot.settings.serverHeader,
    numTrustedProxies: snapshot.settings.numTrustedProxies,
  }
}

/**
 * Gives the snapshot's cluster runtimes back. Call when the snapshot is retired (no request
 * will start on it again) or when a reload that prepared it is aborted. Pools still used by a
 * newer snapshot stay open; others close once their in-flight requests have finished.
 */
export function releaseSnapshot(prepared: PreparedSnapshot, upstreams: UpstreamRegistry): void {
  for (const runtime of prepared.clusters.values()) upstreams.release(runtime)
}

function prepareRoute(
  route: ir.HttpRoute,
  clusters: ReadonlyMap<ir.ClusterId, ClusterRuntime>,
  rateLimits?: PreparedRateLimits,
): PreparedRoute {
  const action = route.action
  const destinations =
    action.kind === 'forward'
      ? action.destinations.map((d) => prepareDestination(route, d, clusters))
      : []
  let directBody: Buffer | undefined
  if (action.kind === 'direct' && action.body !== undefined) {
    directBody =
      'text' in action.body
        ? Buffer.from(action.body.text, 'utf8')
        : Buffer.from(action.body.base64, 'base64')
  }
  return {
    route,
    logName: route.name ?? route.id,
    action,
    destinations,
    totalWeight: destinations.reduce((sum, d) => sum + d.destination.weight, 0),
    responsePlan: compileHeaderPlan([route.headers.response]),
    rewrite: preparePathRewrite(route.rewrite, route.id),
    prefixLengths: matchedPrefixLengths(route),
    retry: prepareRetry(route.retry),
    timeoutMs: route.timeoutMs,
    directBody,
    fault: route.fault,
    cors: route.cors !== undefined ? prepareCors(route.cors, route.id) : undefined,
    mirrors: route.mirrors.map((m) => ({
      cluster: clusters.get(m.cluster),
      percent: m.percent,
      hostSuffix: m.hostSuffix ?? '',
    })),
    rateLimits,
  }
}

function prepareDestination(
  route: ir.HttpRoute,
  d: ir.RouteDestination,
  clusters: ReadonlyMap<ir.ClusterId, ClusterRuntime>,
): PreparedDestination {
  return {
    destination: d,
    clusterId: d.cluster,
    service: d.host,
    cluster: clusters.get(d.cluster),
    requestPlan: compileHeaderPlan([d.headers.request, route.headers.request]),
    responsePlan: compileHeaderPlan([d.headers.response, route.headers.response]),
    authority: route.authorityRewrite ?? d.authorityRewrite,
  }
}
