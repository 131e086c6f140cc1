/**
 * portcullis_egress_requests_total{decision,host,port}: every egress allowlist decision. Hosts
 * come from clients, so the label sets are bounded as istio_* ones are (request-metrics.ts):
 * past the bound, new host/port pairs are counted under host="overflow", port="overflow" and the
 * decision label stays exact.
 */
import { Counter, type Registry } from 'prom-client'
import type { EgressEvent } from './events.js'
import { DEFAULT_MAX_SERIES, OVERFLOW } from './request-metrics.js'

export interface EgressMetrics {
  record(event: EgressEvent): void
}

export function createEgressMetrics(
  registry: Registry,
  maxSeries = DEFAULT_MAX_SERIES,
): EgressMetrics {
  const counter = new Counter({
    name: 'portcullis_egress_requests_total',
    help: 'Egress allowlist decisions (HTTP requests, CONNECT tunnels, SNI connections) by decision (allowed, denied, audited, passthrough), requested host and port.',
    labelNames: ['decision', 'host', 'port'] as const,
    registers: [registry],
  })
  const seen = new Set<string>()
  return {
    record(event) {
      const key = `${event.host}:${event.port}`
      let host = event.host
      let port = String(event.port)
      if (!seen.has(key)) {
        if (seen.size >= maxSeries) {
          host = OVERFLOW
          port = OVERFLOW
        } else seen.add(key)
      }
      counter.inc({ decision: event.decision, host, port })
    },
  }
}
