/**
 * The live state of the active snapshot's clusters, for the admin `/clusters` view (Envoy's):
 * every endpoint with its health, outlier ejection, requests in flight and connection-pool use.
 * Read on demand from the cluster runtimes; nothing here is kept or counted on the request path.
 */
import type * as ir from '../ir/index.js'
import type { PreparedSnapshot } from './prepared.js'

export interface EndpointStatus {
  /** `ip:port`, as access logs show the upstream host. */
  readonly address: string
  readonly weight: number
  /** false while outlier detection has the endpoint ejected. */
  readonly healthy: boolean
  /** ms until the ejection ends; 0 when not ejected. */
  readonly ejectedForMs: number
  readonly ejections: number
  readonly activeRequests: number
  readonly consecutive5xx: number
  readonly consecutiveGatewayErrors: number
  readonly consecutiveLocalFailures: number
  /** undici's pool counters: open connections, idle ones, requests queued, pending and running. */
  readonly pool: {
    readonly connected: number
    readonly free: number
    readonly pending: number
    readonly queued: number
    readonly running: number
  }
  readonly h2Sessions: number
}

export interface ClusterStatus {
  readonly name: ir.ClusterId
  readonly host: string
  readonly port: number
  readonly subset: string | undefined
  readonly resolution: ir.Resolution
  /** Requests admitted and not finished, and retries in flight (the circuit breakers' counters). */
  readonly activeRequests: number
  readonly activeRetries: number
  /** DestinationRule connectionPool limits; undefined: Istio's default (no limit). */
  readonly maxConnections: number | undefined
  readonly maxPendingRequests: number | undefined
  readonly maxRequests: number | undefined
  readonly maxRetries: number | undefined
  readonly outlierDetection: boolean
  readonly endpoints: readonly EndpointStatus[]
}

export function clusterStatuses(
  prepared: PreparedSnapshot | undefined,
  now: number,
): ClusterStatus[] {
  if (prepared === undefined) return []
  const out: ClusterStatus[] = []
  for (const runtime of prepared.clusters.values()) {
    const c = runtime.cluster
    const pool = c.policy?.connectionPool
    out.push({
      name: c.id,
      host: c.host,
      port: c.port,
      subset: c.subset,
      resolution: c.resolution,
      activeRequests: runtime.inFlight,
      activeRetries: runtime.retriesInFlight,
      maxConnections: pool?.maxConnections,
      maxPendingRequests: pool?.maxPendingRequests,
      maxRequests: pool?.maxRequests,
      maxRetries: pool?.maxRetries,
      outlierDetection: c.policy?.outlierDetection !== undefined,
      endpoints: runtime.endpoints.map((e) => {
        const stats = e.pool.stats
        const ejectedForMs = e.ejectedUntil > now ? e.ejectedUntil - now : 0
        return {
          address: e.address,
          weight: e.weight,
          healthy: ejectedForMs === 0,
          ejectedForMs,
          ejections: e.ejections,
          activeRequests: e.active,
          consecutive5xx: e.consecutive5xx,
          consecutiveGatewayErrors: e.consecutiveGateway,
          consecutiveLocalFailures: e.consecutiveLocal,
          pool: {
            connected: stats.connected,
            free: stats.free,
            pending: stats.pending,
            queued: stats.queued,
            running: stats.running,
          },
          h2Sessions: e.h2Pool?.sessionCount ?? 0,
        }
      }),
    })
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
