/**
 * Builds the tracer for a snapshot's tracing plan, and keeps the SDK pipelines (provider,
 * sampler, exporters, queues) across reloads that do not change them: a reload that only
 * changes routes keeps exporting through the same queues. The pipelines of the last few plans
 * are kept (a reload that fails after prepare leaves the previous snapshot serving, so "the
 * newest plan" is not "the plan in use"); an older one is flushed and shut down after a grace
 * period, so spans of requests still running on its snapshot are exported rather than lost.
 */
import type { BasicTracerProvider, SpanExporter } from '@opentelemetry/sdk-trace-base'
import type * as ir from '../../ir/index.js'
import { canonicalJson } from '../../lib/index.js'
import type { RequestTracer } from '../events.js'
import { BoundedBatchProcessor, type DropReason } from './bounded-processor.js'
import { otelResources, otelSdk, zipkinExporter } from './otel.js'
import { OtlpHttpExporter } from './otlp-http-exporter.js'
import { createRequestTracer } from './request-tracer.js'

export interface TracingOptions {
  onDropped?(reason: DropReason, spans: number): void
  onExported?(spans: number): void
  /** Spans waiting for export per provider; beyond it they are dropped and counted. */
  readonly maxQueueSize?: number
  readonly maxBatchSize?: number
  readonly delayMs?: number
  /** How long an unused pipeline keeps exporting before it is shut down. */
  readonly retireAfterMs?: number
}

export interface Tracing {
  /** The tracer for one snapshot's plan (a fresh facade over a kept or new pipeline). */
  tracerFor(plan: ir.TracingPlan): RequestTracer
  /** Exports what is queued, then stops every pipeline. */
  shutdown(): Promise<void>
}

/**
 * Sized for the gateway, not the SDK default (2048): at 1 % sampling a replica serving 20k
 * requests per second queues about 200 spans per second, so 8192 rides out a collector outage
 * of half a minute at that rate; a span is about 1–2 kB held, so the bound is ~16 MB at most.
 */
export const DEFAULT_MAX_QUEUE_SIZE = 8192
const DEFAULT_MAX_BATCH_SIZE = 512
const DEFAULT_DELAY_MS = 1000
const DEFAULT_RETIRE_AFTER_MS = 60_000
/** Plans whose pipelines stay open: the serving one, one being prepared, and a little slack. */
const KEPT_PIPELINES = 3

interface Pipeline {
  readonly provider: BasicTracerProvider
  retireTimer: NodeJS.Timeout | undefined
}

/**
 * OpenTelemetry's batch-processor variables, as the SDKs read them: `OTEL_BSP_SCHEDULE_DELAY`
 * (ms), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_MAX_QUEUE_SIZE`. A value that is not a
 * positive integer is ignored (the default applies), as the SDKs do.
 */
export function batchOptionsFromEnv(env: NodeJS.ProcessEnv): TracingOptions {
  const read = (name: string): number | undefined => {
    const raw = env[name]
    if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined
    const n = Number(raw)
    return n > 0 ? n : undefined
  }
  const delayMs = read('OTEL_BSP_SCHEDULE_DELAY')
  const maxBatchSize = read('OTEL_BSP_MAX_EXPORT_BATCH_SIZE')
  const maxQueueSize = read('OTEL_BSP_MAX_QUEUE_SIZE')
  return {
    ...(delayMs !== undefined ? { delayMs } : {}),
    ...(maxBatchSize !== undefined ? { maxBatchSize } : {}),
    ...(maxQueueSize !== undefined ? { maxQueueSize } : {}),
  }
}

export function createTracing(options: TracingOptions = {}): Tracing {
  // Insertion order is recency: a plan asked for again moves to the end.
  const pipelines = new Map<string, Pipeline>()
  const retiring = new Set<Pipeline>()

  const build = (plan: ir.TracingPlan): Pipeline => {
    const processors = plan.providers.map(
      (p) =>
        new BoundedBatchProcessor(exporterFor(p, plan.serviceName), {
          maxQueueSize: options.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE,
          maxBatchSize: options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
          delayMs: options.delayMs ?? DEFAULT_DELAY_MS,
          exportTimeoutMs: p.timeoutMs,
          maxOverdueExports: 4,
          onDropped: (reason, n) => options.onDropped?.(reason, n),
          onExported: (n) => options.onExported?.(n),
        }),
    )
    const { AlwaysOnSampler, BasicTracerProvider, ParentBasedSampler } = otelSdk()
    const provider = new BasicTracerProvider({
      resource: otelResources().resourceFromAttributes({ 'service.name': plan.serviceName }),
      // A sampled (or unsampled) parent decides, as Envoy does. A root span reaches the SDK
      // only once the request tracer has sampled it by the percentage (request-tracer.ts).
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      spanProcessors: processors,
    })
    return { provider, retireTimer: undefined }
  }

  const retire = (pipeline: Pipeline): void => {
    retiring.add(pipeline)
    pipeline.retireTimer = setTimeout(() => {
      retiring.delete(pipeline)
      void pipeline.provider.shutdown().catch(() => undefined)
    }, options.retireAfterMs ?? DEFAULT_RETIRE_AFTER_MS)
    pipeline.retireTimer.unref()
  }

  return {
    tracerFor(plan) {
      const key = canonicalJson({
        providers: plan.providers,
        samplingPercent: plan.samplingPercent,
        serviceName: plan.serviceName,
      })
      const pipeline = pipelines.get(key) ?? build(plan)
      pipelines.delete(key)
      pipelines.set(key, pipeline)
      for (const [old, p] of pipelines) {
        if (pipelines.size <= KEPT_PIPELINES) break
        pipelines.delete(old)
        retire(p)
      }
      return createRequestTracer(pipeline.provider.getTracer('portcullis'), plan)
    },
    async shutdown() {
      const all = [...pipelines.values(), ...retiring]
      pipelines.clear()
      retiring.clear()
      for (const p of all) if (p.retireTimer !== undefined) clearTimeout(p.retireTimer)
      await Promise.all(all.map((p) => p.provider.shutdown().catch(() => undefined)))
    },
  }
}

function exporterFor(p: ir.TracingProvider, serviceName: string): SpanExporter {
  if (p.kind === 'zipkin') {
    return new (zipkinExporter().ZipkinExporter)({
      url: p.url,
      serviceName,
      headers: { ...p.headers },
    })
  }
  return new OtlpHttpExporter({ url: p.url, timeoutMs: p.timeoutMs, headers: p.headers })
}
