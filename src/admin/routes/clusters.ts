/**
 * GET /clusters: every cluster of the active snapshot with its endpoints' live state, in Envoy's
 * text form (`cluster::endpoint::stat::value` lines) or its JSON (`?format=json`,
 * `cluster_statuses[].host_statuses[]`): health (outlier ejection), requests in flight, pool use.
 */
import type { FastifyInstance } from 'fastify'
import type { ClusterStatus, RuntimeView } from '../../runtime/index.js'
import { sendText, socketAddress, wantsJson } from './envoy-format.js'

/** Istio's connection-pool limits default to 2^32-1, as Envoy prints them. */
const UNLIMITED = 4_294_967_295

export function registerClusters(app: FastifyInstance, runtime: RuntimeView): void {
  app.get('/clusters', async (req, reply) => {
    const clusters = runtime.clusters()
    if (wantsJson(req)) return { cluster_statuses: clusters.map(clusterJson) }
    return sendText(reply, clusters.flatMap(clusterLines))
  })
}

function limits(c: ClusterStatus): [string, number][] {
  return [
    ['max_connections', c.maxConnections ?? UNLIMITED],
    ['max_pending_requests', c.maxPendingRequests ?? UNLIMITED],
    ['max_requests', c.maxRequests ?? UNLIMITED],
    ['max_retries', c.maxRetries ?? UNLIMITED],
  ]
}

function clusterLines(c: ClusterStatus): string[] {
  const lines = limits(c).map(([k, v]) => `${c.name}::default_priority::${k}::${v}`)
  lines.push(
    `${c.name}::rq_active::${c.activeRequests}`,
    `${c.name}::rq_retry_active::${c.activeRetries}`,
  )
  lines.push(`${c.name}::outlier_detection::${c.outlierDetection ? 'enabled' : 'disabled'}`)
  for (const e of c.endpoints) {
    const at = `${c.name}::${e.address}`
    lines.push(
      `${at}::cx_active::${e.pool.connected}`,
      `${at}::cx_idle::${e.pool.free}`,
      `${at}::rq_active::${e.activeRequests}`,
      `${at}::rq_pending::${e.pool.pending + e.pool.queued}`,
      `${at}::h2_sessions::${e.h2Sessions}`,
      `${at}::consecutive_5xx::${e.consecutive5xx}`,
      `${at}::consecutive_gateway_errors::${e.consecutiveGatewayErrors}`,
      `${at}::consecutive_local_failures::${e.consecutiveLocalFailures}`,
      `${at}::ejections::${e.ejections}`,
      `${at}::ejected_for_ms::${e.ejectedForMs}`,
      `${at}::weight::${e.weight}`,
      `${at}::health_flags::${e.healthy ? 'healthy' : '/failed_outlier_check'}`,
    )
  }
  return lines
}

function clusterJson(c: ClusterStatus) {
  return {
    name: c.name,
    service: { host: c.host, port: c.port, subset: c.subset ?? null, resolution: c.resolution },
    circuit_breakers: {
      thresholds: [Object.fromEntries([['priority', 'DEFAULT'], ...limits(c)])],
    },
    rq_active: c.activeRequests,
    rq_retry_active: c.activeRetries,
    outlier_detection: c.outlierDetection,
    host_statuses: c.endpoints.map((e) => ({
      address: socketAddress(e.address),
      stats: [
        { name: 'cx_active', value: e.pool.connected },
        { name: 'cx_idle', value: e.pool.free },
        { name: 'rq_active', value: e.activeRequests },
        { name: 'rq_pending', value: e.pool.pending + e.pool.queued },
        { name: 'h2_sessions', value: e.h2Sessions },
        { name: 'consecutive_5xx', value: e.consecutive5xx },
        { name: 'consecutive_gateway_errors', value: e.consecutiveGatewayErrors },
        { name: 'consecutive_local_failures', value: e.consecutiveLocalFailures },
        { name: 'ejections', value: e.ejections },
      ],
      health_status: {
        eds_health_status: 'HEALTHY',
        ...(e.healthy ? {} : { failed_outlier_check: true }),
      },
      ejected_for_ms: e.ejectedForMs,
      weight: e.weight,
    })),
  }
}
