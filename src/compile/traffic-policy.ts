/**
 * DestinationRule trafficPolicy → ir.ClusterPolicy for one cluster, with Istio's merge rules
 * (pilot/pkg/networking/core/cluster_traffic_policy.go, MergeTrafficPolicy): the rule's
 * portLevelSettings for the cluster port replace its top-level loadBalancer, connectionPool,
 * outlierDetection and tls together (omitted ones fall back to defaults, they do not inherit);
 * a subset's components then override whole components, and the subset's own portLevelSettings
 * replace all four again. Fields are never merged inside a component.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import { compileUpstreamTls } from './upstream-tls.js'
import type { TlsFileBase } from './upstream-tls.js'

type TrafficPolicy = NonNullable<istio.DestinationRuleSpec['trafficPolicy']>
type PortPolicy = NonNullable<TrafficPolicy['portLevelSettings']>[number]
export type TrafficComponents = Pick<
  TrafficPolicy,
  'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'
>

/** Istio's outlier detection defaults once the block is present. */
export const OUTLIER_DEFAULTS = {
  consecutive5xxErrors: 5,
  consecutiveLocalOriginFailures: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
} as const

const RING_SIZE = 1024

function portTrafficComponents(p: PortPolicy): TrafficComponents {
  return {
    ...(p.loadBalancer !== undefined ? { loadBalancer: p.loadBalancer } : {}),
    ...(p.connectionPool !== undefined ? { connectionPool: p.connectionPool } : {}),
    ...(p.outlierDetection !== undefined ? { outlierDetection: p.outlierDetection } : {}),
    ...(p.tls !== undefined ? { tls: p.tls } : {}),
  }
}

function atPort(policy: TrafficPolicy, port: number): TrafficComponents {
  const level = policy.portLevelSettings?.find((p) => p.port?.number === port)
  if (level !== undefined) return portTrafficComponents(level)
  return portTrafficComponents(policy)
}

/** The four components in effect for `port` and `subset` (Istio's MergeTrafficPolicy). */
export function mergeTrafficPolicy(
  top: TrafficPolicy | undefined,
  subset: TrafficPolicy | undefined,
  port: number,
): TrafficComponents {
  const base = top !== undefined ? atPort(top, port) : {}
  if (subset === undefined) return base
  const merged: TrafficComponents = { ...base, ...portTrafficComponents(subset) }
  const level = subset.portLevelSettings?.find((p) => p.port?.number === port)
  return level !== undefined ? portTrafficComponents(level) : merged
}

export function compileClusterPolicy(
  c: TrafficComponents,
  host: string,
  tlsBase?: TlsFileBase,
): { policy: ir.ClusterPolicy | undefined; connectTimeoutMs: number | undefined } {
  const loadBalancer = compileLoadBalancer(c.loadBalancer)
  const connectionPool = compileConnectionPool(c.connectionPool)
  const outlierDetection = compileOutlier(c.outlierDetection)
  const tls = compileUpstreamTls(c.tls, host, tlsBase)
  const policy: ir.ClusterPolicy = {
    ...(loadBalancer !== undefined ? { loadBalancer } : {}),
    ...(connectionPool !== undefined ? { connectionPool } : {}),
    ...(outlierDetection !== undefined ? { outlierDetection } : {}),
    ...(tls !== undefined ? { tls } : {}),
  }
  return {
    policy: Object.keys(policy).length > 0 ? policy : undefined,
    connectTimeoutMs: c.connectionPool?.tcp?.connectTimeout,
  }
}

function compileLoadBalancer(lb: TrafficComponents['loadBalancer']): ir.LoadBalancer | undefined {
  if (lb === undefined) return undefined
  const ch = lb.consistentHash
  if (ch !== undefined) {
    let key: ir.HashKey | undefined
    if (ch.httpHeaderName !== undefined)
      key = { kind: 'header', name: ch.httpHeaderName.toLowerCase() }
    else if (ch.httpCookie !== undefined) {
      const k = ch.httpCookie
      key = {
        kind: 'cookie',
        name: k.name,
        ...(k.path !== undefined ? { path: k.path } : {}),
        ...(k.ttl !== undefined ? { ttlMs: k.ttl } : {}),
      }
    } else if (ch.useSourceIp === true) key = { kind: 'source-ip' }
    else if (ch.httpQueryParameterName !== undefined) {
      key = { kind: 'query', name: ch.httpQueryParameterName }
    }
    if (key === undefined) return { kind: 'ROUND_ROBIN' }
    const ringSize =
      ch.ringHash?.minimumRingSize ?? ch.maglev?.tableSize ?? ch.minimumRingSize ?? RING_SIZE
    return { kind: 'CONSISTENT_HASH', key, ringSize: ringSize > 0 ? ringSize : RING_SIZE }
  }
  switch (lb.simple) {
    case undefined:
    case 'UNSPECIFIED':
      return undefined
    case 'LEAST_CONN':
      return { kind: 'LEAST_REQUEST' }
    default:
      return { kind: lb.simple }
  }
}

function compileConnectionPool(
  cp: TrafficComponents['connectionPool'],
): ir.ConnectionPoolPolicy | undefined {
  if (cp === undefined) return undefined
  const tcp = cp.tcp
  const http = cp.http
  // Istio's http.idleTimeout wins over tcp.idleTimeout for HTTP clusters.
  const idle = http?.idleTimeout ?? tcp?.idleTimeout
  const ka = tcp?.tcpKeepalive
  const out: ir.ConnectionPoolPolicy = {
    ...(tcp?.maxConnections !== undefined ? { maxConnections: tcp.maxConnections } : {}),
    ...(http?.http1MaxPendingRequests !== undefined
      ? { maxPendingRequests: http.http1MaxPendingRequests }
      : {}),
    ...(http?.http2MaxRequests !== undefined ? { maxRequests: http.http2MaxRequests } : {}),
    ...(http?.maxRequestsPerConnection !== undefined
      ? { maxRequestsPerConnection: http.maxRequestsPerConnection }
      : {}),
    ...(http?.maxRetries !== undefined ? { maxRetries: http.maxRetries } : {}),
    ...(idle !== undefined ? { idleTimeoutMs: idle } : {}),
    ...(tcp?.maxConnectionDuration !== undefined
      ? { maxConnectionDurationMs: tcp.maxConnectionDuration }
      : {}),
    ...(ka !== undefined
      ? {
          tcpKeepalive: {
            ...(ka.time !== undefined ? { timeMs: ka.time } : {}),
            ...(ka.interval !== undefined ? { intervalMs: ka.interval } : {}),
            ...(ka.probes !== undefined ? { probes: ka.probes } : {}),
          },
        }
      : {}),
    ...(http?.h2UpgradePolicy !== undefined ? { h2UpgradePolicy: http.h2UpgradePolicy } : {}),
    ...(http?.maxConcurrentStreams !== undefined
      ? { maxConcurrentStreams: http.maxConcurrentStreams }
      : {}),
    ...(http?.useClientProtocol !== undefined ? { useClientProtocol: http.useClientProtocol } : {}),
  }
  return Object.keys(out).length > 0 ? out : undefined
}

function compileOutlier(
  od: TrafficComponents['outlierDetection'],
): ir.OutlierDetectionPolicy | undefined {
  if (od === undefined) return undefined
  const d = OUTLIER_DEFAULTS
  return {
    // The deprecated consecutiveErrors is Istio's fallback for consecutive5xxErrors.
    consecutive5xxErrors: od.consecutive5xxErrors ?? od.consecutiveErrors ?? d.consecutive5xxErrors,
    consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? 0,
    consecutiveLocalOriginFailures:
      od.consecutiveLocalOriginFailures ?? d.consecutiveLocalOriginFailures,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors ?? false,
    intervalMs: od.interval ?? d.intervalMs,
    baseEjectionTimeMs: od.baseEjectionTime ?? d.baseEjectionTimeMs,
    maxEjectionPercent: od.maxEjectionPercent ?? d.maxEjectionPercent,
    minHealthPercent: od.minHealthPercent ?? 0,
  }
}
