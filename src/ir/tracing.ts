/**
 * Tracing as the snapshot carries it: where spans go (meshConfig extension providers named by
 * the Telemetry resource), how many requests start a sampled trace, and the tags added to every
 * span. Absent from the snapshot when no Telemetry turns tracing on: then no route prepares the
 * trace steps and a request pays nothing for tracing.
 */

/** One exporter: OTLP/HTTP (JSON) or Zipkin v2 JSON, as meshConfig names them. */
export type TracingProvider =
  | {
      readonly kind: 'opentelemetry'
      readonly name: string
      /** `http://<service>:<port><path>`, path defaulting to /v1/traces. */
      readonly url: string
      readonly timeoutMs: number
      readonly headers: Readonly<Record<string, string>>
    }
  | {
      readonly kind: 'zipkin'
      readonly name: string
      /** `http://<service>:<port><path>`, path defaulting to /api/v2/spans. */
      readonly url: string
      readonly timeoutMs: number
      readonly headers: Readonly<Record<string, string>>
    }

/** Telemetry customTags: a fixed value, a request header or an environment variable. */
export type TracingCustomTag =
  | { readonly tag: string; readonly kind: 'literal'; readonly value: string }
  | {
      readonly tag: string
      readonly kind: 'header'
      /** Lower-case header name. */
      readonly name: string
      readonly defaultValue: string | undefined
    }
  | {
      readonly tag: string
      readonly kind: 'environment'
      readonly name: string
      readonly defaultValue: string | undefined
    }

/**
 * A trace-context format: W3C (`traceparent`, `tracestate`) or B3 (the single `b3` header and
 * the `x-b3-*` headers in, B3 multi header out).
 */
export type TraceContextFormat = 'w3c' | 'b3'

export interface TracingPlan {
  /** Exporters, in the order the Telemetry resource names them; empty: propagate, export nothing. */
  readonly providers: readonly TracingProvider[]
  /**
   * The formats read from a request and written upstream, the preferred first (it wins when a
   * request carries both), as the named providers' tracers do in Envoy: OpenTelemetry W3C, Zipkin
   * B3 and, with `traceContextOption: USE_B3_WITH_W3C_PROPAGATION`, W3C after it. Headers of a
   * format not listed are not trace context here: they pass as any other header. Set with span
   * reporting off too.
   */
  readonly propagation: readonly TraceContextFormat[]
  /** Share of requests without a sampled parent that start a sampled trace, 0–100. */
  readonly samplingPercent: number
  readonly customTags: readonly TracingCustomTag[]
  /** service.name of the spans and the `istio.canonical_service` tag. */
  readonly serviceName: string
  /** The Telemetry resource that turned tracing on, `<namespace>/<name>`. */
  readonly source: string
}
