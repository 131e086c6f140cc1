/**
 * The gateway's Prometheus metrics: Istio's request families (request-metrics.ts) plus the
 * portcullis_* metrics Istio has no name for, and Node process metrics. Everything lives in a
 * registry of our own, never prom-client's global one, so tests and embedders can run several.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { ConnectionRecord, RequestRecord } from './events.js'
import { gatewayIdentity, type GatewayIdentity } from './istio-labels.js'
import { createRequestMetrics } from './request-metrics.js'
import { createTcpMetrics } from './tcp-metrics.js'

export type ReloadResult = 'applied' | 'rejected' | 'unchanged'

export interface GatewayMetricsOptions {
  /** Lines the access log has dropped so far; read at scrape time. */
  readonly droppedAccessLogLines?: () => number
  /** Node process metrics (portcullis_process_*, portcullis_nodejs_*). Default true. */
  readonly processMetrics?: boolean
  /** Bound on istio_* label sets (see request-metrics.ts). */
  readonly maxSeries?: number
  /** The gateway as the source of every istio_* series (from GatewayConfig `labels`). */
  readonly identity?: GatewayIdentity
  /** `tag` of istio_build (the Portcullis version). */
  readonly buildTag?: string
}

export interface GatewayMetrics {
  /** Holds the portcullis_* and process metrics; text() adds the istio_* families to it. */
  readonly registry: Registry
  readonly contentType: string
  recordRequest(rec: RequestRecord): void
  /** An L4 connection opened (istio_tcp_connections_opened_total). */
  recordConnectionOpen(rec: ConnectionRecord): void
  /** An L4 connection closed (closed count, bytes each way). */
  recordConnectionClose(rec: ConnectionRecord): void
  /** `version` is the config version serving after the reload. */
  recordReload(result: ReloadResult, version: number): void
  /** Everything, in Prometheus text format (what /stats/prometheus serves). */
  text(): Promise<string>
}

const RELOAD_RESULTS: readonly ReloadResult[] = ['applied', 'rejected', 'unchanged']

export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = new Registry()
  const identity = options.identity ?? gatewayIdentity()
  const requests = createRequestMetrics({
    identity,
    ...(options.maxSeries === undefined ? {} : { maxSeries: options.maxSeries }),
  })

  const tcp = createTcpMetrics(options.maxSeries, identity)

  // Istio's proxies export istio_build{component="proxy",tag=<version>} = 1; the mesh
  // dashboard's "Istio Component Versions" panel reads it.
  new Gauge({
    name: 'istio_build',
    help: 'Build of this gateway: component "proxy", tag the Portcullis version.',
    labelNames: ['component', 'tag'] as const,
    registers: [registry],
  }).set({ component: 'proxy', tag: options.buildTag ?? 'unknown' }, 1)

  const reloads = new Counter({
    name: 'portcullis_config_reloads_total',
    help: 'Configuration reloads by result: applied, rejected (last good config kept), unchanged.',
    labelNames: ['result'] as const,
    registers: [registry],
  })
  // Every result is exported from the start, so rate() and alerts see a 0 rather than no data.
  for (const result of RELOAD_RESULTS) reloads.inc({ result }, 0)

  const configVersion = new Gauge({
    name: 'portcullis_config_version',
    help: 'Version of the configuration snapshot currently serving.',
    registers: [registry],
  })
  const lastSuccess = new Gauge({
    name: 'portcullis_config_last_reload_success_timestamp_seconds',
    help: 'Unix time of the last reload that produced a valid configuration (applied or unchanged).',
    registers: [registry],
  })

  const droppedLines = options.droppedAccessLogLines ?? (() => 0)
  let reportedDrops = 0
  new Counter({
    name: 'portcullis_access_log_dropped_lines_total',
    help: 'Access-log lines dropped because the log sink could not keep up or failed.',
    registers: [registry],
    collect() {
      const now = droppedLines()
      if (now > reportedDrops) {
        this.inc(now - reportedDrops)
        reportedDrops = now
      }
    },
  })

  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'portcullis_' })
  }

  return {
    registry,
    contentType: registry.contentType,
    recordRequest: (rec) => requests.record(rec),
    recordConnectionOpen: (rec) => tcp.opened(rec),
    recordConnectionClose: (rec) => tcp.closed(rec),
    recordReload(result, version) {
      reloads.inc({ result })
      if (result === 'rejected') return
      configVersion.set(version)
      lastSuccess.set(Date.now() / 1000)
    },
    async text() {
      const own = await registry.metrics()
      return requests.render() + '\n' + tcp.render() + own
    },
  }
}
