/**
 * Istio's standard TCP metrics for L4 connections (TCP routes, TLS passthrough, SNI egress):
 * istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
 * istio_tcp_sent_bytes_total and istio_tcp_received_bytes_total, with the labels of the HTTP
 * families (istio-labels.ts) and request_protocol="tcp". Istio's dashboards read sent and
 * received bytes by destination_service. Bytes are added when the connection closes (Envoy adds
 * them periodically too; a closed connection's totals are the same either way).
 */
import type { ConnectionRecord } from './events.js'
import {
  destinationLabels,
  flagsLabel,
  gatewayIdentity,
  gatewayLabels,
  OVERFLOW,
  type GatewayIdentity,
} from './istio-labels.js'

export interface TcpMetrics {
  opened(rec: ConnectionRecord): void
  closed(rec: ConnectionRecord): void
  /** The four families in Prometheus text format, ending with a newline. */
  render(): string
}

/** Default bound on distinct label sets; beyond it new ones are folded under `overflow`. */
const DEFAULT_MAX_SERIES = 1000

class TcpSeries {
  opened = 0
  closed = 0
  sent = 0
  received = 0
  constructor(readonly labels: string) {}
}

export function createTcpMetrics(
  maxSeries = DEFAULT_MAX_SERIES,
  identity: GatewayIdentity = gatewayIdentity(),
): TcpMetrics {
  const constantLabels = `${gatewayLabels(identity)},request_protocol="tcp"`
  // Keyed by destination, then flags: a connection costs two Map lookups.
  const table = new Map<string | undefined, Map<string, TcpSeries>>()
  const all: TcpSeries[] = []

  function seriesOf(rec: ConnectionRecord): TcpSeries {
    let byFlags = table.get(rec.destinationService)
    let series = byFlags?.get(rec.responseFlags)
    if (series !== undefined) return series
    const service = all.length >= maxSeries ? OVERFLOW : rec.destinationService
    if (service !== rec.destinationService) {
      byFlags = table.get(service)
      series = byFlags?.get(rec.responseFlags)
      if (series !== undefined) return series
    }
    if (byFlags === undefined) {
      byFlags = new Map()
      table.set(service, byFlags)
    }
    series = new TcpSeries(
      `${constantLabels},${destinationLabels(service)},${flagsLabel(rec.responseFlags)}`,
    )
    byFlags.set(rec.responseFlags, series)
    all.push(series)
    return series
  }

  return {
    opened(rec) {
      seriesOf(rec).opened++
    },
    closed(rec) {
      const s = seriesOf(rec)
      s.closed++
      s.sent += rec.bytesSent > 0 ? rec.bytesSent : 0
      s.received += rec.bytesReceived > 0 ? rec.bytesReceived : 0
    },
    render() {
      const lines: string[] = []
      const family = (name: string, help: string, value: (s: TcpSeries) => number): void => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
        for (const s of all) lines.push(`${name}{${s.labels}} ${value(s)}`)
        lines.push('')
      }
      family(
        'istio_tcp_connections_opened_total',
        'L4 connections opened (TCP routes, TLS passthrough, SNI egress), by destination.',
        (s) => s.opened,
      )
      family(
        'istio_tcp_connections_closed_total',
        'L4 connections closed, by destination and response flags.',
        (s) => s.closed,
      )
      family(
        'istio_tcp_sent_bytes_total',
        'Bytes sent to the client over closed L4 connections.',
        (s) => s.sent,
      )
      family(
        'istio_tcp_received_bytes_total',
        'Bytes received from the client over closed L4 connections.',
        (s) => s.received,
      )
      return lines.join('\n')
    },
  }
}
