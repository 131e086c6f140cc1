/** Tracing export metrics: spans exported, and spans dropped by reason (queue full, export failed). */
import { Counter, type Registry } from 'prom-client'
import type { DropReason } from './tracing/index.js'

export interface TracingMetrics {
  onDropped(reason: DropReason, spans: number): void
  onExported(spans: number): void
}

export function createTracingMetrics(registry: Registry): TracingMetrics {
  const dropped = new Counter({
    name: 'portcullis_tracing_spans_dropped_total',
    help: 'Sampled spans not exported, by reason: queue_full (the bounded export queue was full), export_failed (the collector refused, failed or did not answer in time).',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  for (const reason of ['queue_full', 'export_failed'] as const) dropped.inc({ reason }, 0)
  const exported = new Counter({
    name: 'portcullis_tracing_spans_exported_total',
    help: 'Sampled spans a collector accepted.',
    registers: [registry],
  })
  return {
    onDropped: (reason, spans) => dropped.inc({ reason }, spans),
    onExported: (spans) => exported.inc(spans),
  }
}
