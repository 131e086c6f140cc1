/**
 * How the request path answers egress decisions no route serves: the refusal (502) and failure
 * (503) replies with the egress headers, the observer's decision event, and the cluster and
 * service a record names for BlackHoleCluster and PassthroughCluster destinations.
 */
import type * as ir from '../../ir/index.js'
import {
  BLACK_HOLE_CLUSTER,
  PASSTHROUGH_CLUSTER,
  type CompiledRouteTable,
  type EgressDecision,
  type EgressMatcher,
} from '../../match/index.js'
import type { EgressArrival } from '../../observe/events.js'
import type { PreparedDestination } from '../prepared.js'
import { denialBody, EGRESS_HEADER, EGRESS_REASON_HEADER } from '../record/egress-denial.js'
import { Flag } from '../record/flags.js'
import type { EgressGuard } from '../types.js'
import type { HostResolver } from '../upstream/host-resolver.js'
import type { RequestContext } from './context.js'
import { EMPTY_HEADER_PLAN } from './header-plan.js'
import { sendLocalReply } from './local-reply.js'

/** Where an egress decision is made: the allowlist, its tables, a resolver. */
export interface EgressSite {
  readonly matcher: EgressMatcher
  /** Checks the addresses a registered host's cluster resolved (egress-address.ts). */
  readonly guard: EgressGuard
  /** The port a Host without one names (80 on the outbound listener, else the listener's). */
  readonly defaultPort: number
  /** Default and mesh routes by destination port; a port without a table has none. */
  readonly tables: ReadonlyMap<number, CompiledRouteTable>
  readonly resolver: HostResolver
  /** Short names (`reviews`, `reviews.default`) → the registered host each stands for. */
  readonly aliases?: Readonly<Record<string, string>>
  /** Virtual hosts (`example.com:80`) of mesh VirtualServices no ServiceEntry backs. */
  readonly unbacked?: ReadonlySet<string>
}

/**
 * A refused or failed egress request: 502 (refused, flag EG) or 503 (DNS or connect failure,
 * flag UF), naming the reason in a header and the body, recorded under BlackHoleCluster or the
 * decision's cluster.
 */
export function replyEgressDenied(
  ctx: RequestContext,
  status: 502 | 503,
  d: EgressDecision,
  reason: string,
): void {
  ctx.destination = egressDestinationOf(d)
  const isError = status === 503
  if (!isError) {
    ctx.env.log.info('egress decision', {
      verdict: d.verdict,
      reason: d.reason,
      host: d.host,
      port: d.port,
      source: ctx.peer,
    })
  }
  sendLocalReply(
    ctx,
    status,
    isError ? Flag.UF : Flag.EG,
    isError ? reason : `egress_denied:${reason}`,
    denialBody(d, reason),
    undefined,
    [EGRESS_HEADER, isError ? 'error' : 'denied', EGRESS_REASON_HEADER, reason],
  )
}

/** Tells the egress observer (metrics, the admin API's recent destinations) of a decision. */
export function observeEgress(
  ctx: RequestContext,
  d: EgressDecision,
  arrival: EgressArrival,
): void {
  ctx.env.egress?.onEgressDecision({
    decision: d.verdict,
    host: d.host,
    port: d.port,
    arrival,
    source: ctx.req.socket.remoteAddress ?? ctx.peer,
    reason: d.reason,
  })
}

/**
 * Istio reports blocked and unknown destinations under these cluster names, and dashboards
 * query destination_service for them; a registered destination is its host.
 */
export function egressDestination(d: EgressDecision): string {
  return d.cluster === BLACK_HOLE_CLUSTER || d.cluster === PASSTHROUGH_CLUSTER ? d.cluster : d.host
}

const NO_OPS: ir.HeaderOperations = { set: [], add: [], remove: [] }

/** What the record names as cluster and service for a decision no route serves. */
export function egressDestinationOf(d: EgressDecision): PreparedDestination {
  return {
    destination: {
      cluster: d.cluster,
      host: d.host,
      port: d.port,
      weight: 1,
      headers: { request: NO_OPS, response: NO_OPS },
    },
    clusterId: d.cluster,
    service: egressDestination(d),
    cluster: undefined,
    requestPlan: EMPTY_HEADER_PLAN,
    responsePlan: EMPTY_HEADER_PLAN,
    authority: undefined,
  }
}
