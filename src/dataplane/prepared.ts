/**
 * The shapes a prepared snapshot has (prepare-snapshot.ts builds them): what requests read instead of
 * config. Kept apart from http/prepare-snapshot.ts, which runs the request steps' prepare functions, so that
 * the request context can name these types without importing the steps that use it.
 */
import type * as ir from '../ir/index.js'
import type { CompiledRouteTable, EgressMatcher } from '../match/index.js'
import type { HeaderPlan } from './http/header-plan.js'
import type { PreparedRetry } from './http/retry-policy.js'
import type { ClusterRuntime } from './upstream/cluster-runtime.js'

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

/**
 * One request step a route uses, with the state its prepare returned (http/step.ts has the
 * typed contract; order.ts runs them). The context parameter is `object` here so that this file
 * does not depend on the request context, which depends on it.
 */
export interface PreparedStep {
  readonly name: string
  readonly state: unknown
  readonly step: {
    run(ctx: object, state: unknown, next: StepContinuation): boolean
  }
}

/** A method's type, so that a function of the request context is accepted (bivariant). */
type StepContinuation = { continue(ctx: object): void }['continue']

export interface PreparedRoute {
  readonly route: ir.HttpRoute
  /** What logs and metrics call the route: its name, else its id. */
  readonly logName: string
  readonly action: ir.RouteAction
  readonly destinations: readonly PreparedDestination[]
  readonly totalWeight: number
  /** Route-level response operations, for replies made without a destination. */
  readonly responsePlan: HeaderPlan
  /** Per match entry: path characters a prefix swap replaces (-1: the whole path). */
  readonly prefixLengths: readonly number[]
  readonly retry: PreparedRetry
  readonly timeoutMs: number | undefined
  /** The request steps this route uses, in order.ts order; steps it does not use are absent. */
  readonly steps: readonly PreparedStep[]
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
