/**
 * Trace context on the wire, by OpenTelemetry's propagators, in the formats of a tracing plan
 * (ir.TracingPlan.propagation): W3C `traceparent`/`tracestate`, and B3 (the single `b3` header
 * and the `x-b3-*` headers read, B3 multi header written), as Envoy's OpenTelemetry and Zipkin
 * tracers do. When a request carries both formats, the plan's first wins.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Context, TextMapGetter, TextMapPropagator, TextMapSetter } from '@opentelemetry/api'
import type * as ir from '../../ir/index.js'
import { otelApi, otelB3, otelCore } from './otel.js'

/** Reads and writes the trace context of one list of formats. */
export interface Propagation {
  /** The context the request arrived with (ROOT_CONTEXT plus a remote span context, if any). */
  extract(headers: IncomingHttpHeaders): Context
  /** Appends the span context in `context` to a flat `[name, value, …]` list, in format order. */
  inject(context: Context, headers: string[]): void
}

const built = new Map<string, Propagation>()

/** Built with the first traced request, so a gateway that traces nothing loads no propagator. */
export function propagationFor(formats: readonly ir.TraceContextFormat[]): Propagation {
  const key = formats.join(',')
  const known = built.get(key)
  if (known !== undefined) return known
  const { CompositePropagator, W3CTraceContextPropagator } = otelCore()
  const { B3InjectEncoding, B3Propagator } = otelB3()
  const w3c = new W3CTraceContextPropagator()
  const b3 = new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER })
  const of = (f: ir.TraceContextFormat): TextMapPropagator => (f === 'w3c' ? w3c : b3)
  // Each propagator that finds its headers replaces the context: the first format, read last,
  // wins. B3's extraction reads the single and the multi header whatever it injects.
  const extractor = new CompositePropagator({ propagators: [...formats].reverse().map(of) })
  const injector = new CompositePropagator({ propagators: formats.map(of) })
  const propagation: Propagation = {
    extract: (headers) => extractor.extract(otelApi().ROOT_CONTEXT, headers, headerGetter),
    inject: (context, headers) => injector.inject(context, headers, listSetter),
  }
  built.set(key, propagation)
  return propagation
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
}

/** Appends to a flat `[name, value, name, value, …]` list, the upstream head's shape. */
const listSetter: TextMapSetter<string[]> = {
  set(carrier, key, value) {
    carrier.push(key, value)
  },
}
