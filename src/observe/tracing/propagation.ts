/**
 * Trace context on the wire, by OpenTelemetry's propagators: W3C `traceparent`/`tracestate` and
 * B3 (the single `b3` header and the `x-b3-*` headers) are read from the request; W3C and B3
 * multi-header are written upstream, so a service behind the gateway continues the trace
 * whichever of the two it reads (Envoy's Zipkin tracer writes B3, its OpenTelemetry tracer W3C).
 * When both arrive, `traceparent` wins.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Context, TextMapGetter, TextMapPropagator, TextMapSetter } from '@opentelemetry/api'
import { otelApi, otelB3, otelCore } from './otel.js'

interface Propagators {
  readonly extractor: TextMapPropagator
  readonly injector: TextMapPropagator
}

let built: Propagators | undefined

/** Built with the first traced request, so a gateway that traces nothing loads no propagator. */
function propagators(): Propagators {
  if (built !== undefined) return built
  const { CompositePropagator, W3CTraceContextPropagator } = otelCore()
  const { B3InjectEncoding, B3Propagator } = otelB3()
  const w3c = new W3CTraceContextPropagator()
  built = {
    // Extraction order: B3 first, so that W3C, read last, overrides it.
    extractor: new CompositePropagator({ propagators: [new B3Propagator(), w3c] }),
    injector: new CompositePropagator({
      propagators: [w3c, new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER })],
    }),
  }
  return built
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

/** The context the request arrived with (ROOT_CONTEXT plus a remote span context, if any). */
export function extractContext(headers: IncomingHttpHeaders): Context {
  return propagators().extractor.extract(otelApi().ROOT_CONTEXT, headers, headerGetter)
}

/** Writes the span context in `context` as W3C and B3 headers. */
export function injectContext(context: Context, headers: string[]): void {
  propagators().injector.inject(context, headers, listSetter)
}
