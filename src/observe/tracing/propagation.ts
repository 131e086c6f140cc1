/**
 * Trace context on the wire, by OpenTelemetry's propagators: W3C `traceparent`/`tracestate` and
 * B3 (the single `b3` header and the `x-b3-*` headers) are read from the request; W3C and B3
 * multi-header are written upstream, so a service behind the gateway continues the trace
 * whichever of the two it reads (Envoy's Zipkin tracer writes B3, its OpenTelemetry tracer W3C).
 * When both arrive, `traceparent` wins.
 */
import type { IncomingHttpHeaders } from 'node:http'
import {
  ROOT_CONTEXT,
  type Context,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api'
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3'

const w3c = new W3CTraceContextPropagator()

/** Extraction order: B3 first, so that W3C, read last, overrides it. */
const extractor = new CompositePropagator({ propagators: [new B3Propagator(), w3c] })
const injector = new CompositePropagator({
  propagators: [w3c, new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER })],
})

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
  return extractor.extract(ROOT_CONTEXT, headers, headerGetter)
}

/** Writes the span context in `context` as W3C and B3 headers. */
export function injectContext(context: Context, headers: string[]): void {
  injector.inject(context, headers, listSetter)
}
