/**
 * What `describe` cannot see in the snapshot: the live state of the clusters a forwarded
 * request would reach. The data plane admits a request to its cluster first (503 UO when the
 * circuit breaker is full) and then picks an endpoint (503 UH when every one is ejected), so a
 * described forward becomes the local reply every destination would give now. Counters are
 * this process's; limits shared through Redis can refuse earlier than this says.
 */
import type { RequestDescription } from '../../match/index.js'
import type { ClusterStatus } from '../../runtime/index.js'

export function withLiveState(
  d: RequestDescription,
  clusters: readonly ClusterStatus[],
): RequestDescription {
  // Only routed HTTP requests are admitted by the breakers; L4 connections have no routing.
  if (d.outcome.status !== 'forward' || d.routing === undefined) return d
  const live = d.destinations
    .filter((x) => x.endpoints !== undefined && x.endpoints.length > 0)
    .map((x) => clusters.find((c) => c.name === x.cluster))
  if (live.length === 0 || live.some((c) => c === undefined)) return d
  const statuses = live as ClusterStatus[]
  if (statuses.every(breakerFull)) {
    return {
      ...d,
      outcome: { status: 503, flag: 'UO' },
      summary: `503 UO: the circuit breaker of ${names(statuses)} is full now (${statuses.map((c) => `${c.activeRequests} in flight`).join(', ')})`,
    }
  }
  if (statuses.every((c) => c.endpoints.length > 0 && c.endpoints.every((e) => !e.healthy))) {
    return {
      ...d,
      outcome: { status: 503, flag: 'UH' },
      summary: `503 UH: every endpoint of ${names(statuses)} is ejected by outlier detection now`,
    }
  }
  return d
}

/** The breaker's limit as the data plane computes it (upstream/cluster-runtime.ts). */
function breakerFull(c: ClusterStatus): boolean {
  const limit = Math.min(
    (c.maxConnections ?? Infinity) + (c.maxPendingRequests ?? Infinity),
    c.maxRequests ?? Infinity,
  )
  return c.activeRequests >= limit
}

function names(clusters: readonly ClusterStatus[]): string {
  return clusters.map((c) => c.name).join(', ')
}
