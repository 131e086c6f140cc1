/**
 * Everything per-request work needs, derived once per snapshot: compiled route tables, cluster
 * runtimes (kept across reloads by the upstream registry) and per-route data (header plans,
 * rewrites, retry policy, destination runtimes). Requests read it and never look at config.
 * It lives in http/ because most of what it prepares is http/ policy state: at the data
 * plane's root it made the root ↔ http folder cycle (the types stay in ../prepared.ts).
 */
import type * as ir from '../../ir/index.js'
import { egressRouteTableId, tlsChainId } from '../../ir/index.js'
import { compileEgressMatcher, compileRouteTable } from '../../match/index.js'
import type { CompiledRouteTable } from '../../match/index.js'
import { compileHeaderPlan } from './header-plan.js'
import { prepareRouteSteps } from './order.js'
import { prepareRateLimits } from './rate-limit-policy.js'
import type { PreparedRateLimits, RateLimitDeps } from './rate-limit-policy.js'
import { prepareRetry } from './retry-policy.js'
import { matchedPrefixLengths } from './rewrite.js'
import type { RequestTracer } from '../../observe/events.js'
import type {
  PreparedDestination,
  PreparedEgressPort,
  PreparedRoute,
  PreparedSnapshot,
} from '../prepared.js'
import type { ClusterRuntime } from '../upstream/cluster-runtime.js'
import type { UpstreamRegistry } from '../upstream/registry.js'

/**
 * Prepares a snapshot for serving. Cluster runtimes are acquired from `upstreams` (reused when
 * unchanged); pair every successful call with exactly one releaseSnapshot. Throws when the
 * snapshot carries something that cannot run (a regex RE2 refuses), having released what it took.
 */
export function prepareSnapshot(
  snapshot: ir.Snapshot,
  upstreams: UpstreamRegistry,
  limits?: RateLimitDeps,
  tracing?: { tracerFor(plan: ir.TracingPlan): RequestTracer },
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
    // Tracing off (no plan, or no source): no tracer, so no route prepares the trace steps.
    const plan = snapshot.tracing
    const tracer = plan !== undefined ? tracing?.tracerFor(plan) : undefined
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
            routes.set(
              r.route,
              reusedOrPrepared(r.route, clusters, rateLimits.get(r.route.id), tracer),
            )
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

/**
 * A route that is the same IR object as in an earlier snapshot (compile reuses the routes of
 * unchanged VirtualServices) keeps its prepared form, when what that form holds from outside the
 * route is the same too: the cluster runtime of every destination and mirror, the tracer its
 * trace steps hold, and no rate limits (those are prepared per snapshot). Weak, so a route no snapshot holds takes it along.
 */
const preparedBefore = new WeakMap<
  ir.HttpRoute,
  {
    readonly prepared: PreparedRoute
    /** The route's destination and mirror clusters (the route never changes). */
    readonly ids: readonly ir.ClusterId[]
    readonly runtimes: readonly (ClusterRuntime | undefined)[]
    readonly tracer: RequestTracer | undefined
  }
>()

function clusterIdsOf(route: ir.HttpRoute): ir.ClusterId[] {
  const ids = route.action.kind === 'forward' ? route.action.destinations.map((d) => d.cluster) : []
  for (const m of route.mirrors) ids.push(m.cluster)
  return ids
}

function reusedOrPrepared(
  route: ir.HttpRoute,
  clusters: ReadonlyMap<ir.ClusterId, ClusterRuntime>,
  rateLimits: PreparedRateLimits | undefined,
  tracer: RequestTracer | undefined,
): PreparedRoute {
  const before = preparedBefore.get(route)
  // Checked against the ids kept with it: a reload of a large config allocates nothing here.
  if (
    rateLimits === undefined &&
    before !== undefined &&
    before.tracer === tracer &&
    before.ids.every((id, i) => clusters.get(id) === before.runtimes[i])
  ) {
    return before.prepared
  }
  const prepared = prepareRoute(route, clusters, rateLimits, tracer)
  if (rateLimits === undefined) {
    const ids = clusterIdsOf(route)
    preparedBefore.set(route, {
      prepared,
      ids,
      runtimes: ids.map((id) => clusters.get(id)),
      tracer,
    })
  }
  return prepared
}

function prepareRoute(
  route: ir.HttpRoute,
  clusters: ReadonlyMap<ir.ClusterId, ClusterRuntime>,
  rateLimits?: PreparedRateLimits,
  tracer?: RequestTracer,
): PreparedRoute {
  const action = route.action
  const destinations =
    action.kind === 'forward'
      ? action.destinations.map((d) => prepareDestination(route, d, clusters))
      : []
  const totalWeight = destinations.reduce((sum, d) => sum + d.destination.weight, 0)
  const retry = prepareRetry(route.retry)
  return {
    route,
    logName: route.name ?? route.id,
    action,
    destinations,
    totalWeight,
    responsePlan: compileHeaderPlan([route.headers.response]),
    prefixLengths: matchedPrefixLengths(route),
    retry,
    timeoutMs: route.timeoutMs,
    // Only the steps this route uses; each prepares its own state once, here.
    steps: prepareRouteSteps({
      route,
      destinations,
      totalWeight,
      retry,
      clusters,
      rateLimits,
      tracer,
    }),
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
