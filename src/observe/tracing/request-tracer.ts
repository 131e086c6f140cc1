/**
 * One snapshot's tracer: the RequestTracer the trace steps call. A span per request, SERVER
 * kind, named as Istio's route decorator names it, with the tags Envoy and Istio put on a
 * gateway span. An unsampled request gets a non-recording span: its context is still
 * propagated (sampled=0 upstream), and no tag is computed for it; an unsampled request that
 * brought no trace context gets UnsampledRootSpan, which does not touch the SDK at all.
 */
import { hostname } from 'node:os'
import type { IncomingHttpHeaders } from 'node:http'
import type { Context, Span, SpanContext, Tracer } from '@opentelemetry/api'
import type * as ir from '../../ir/index.js'
import type {
  AttemptSpan,
  RequestRecord,
  RequestSpan,
  RequestTracer,
  TracedRequest,
} from '../events.js'
import { otelApi } from './otel.js'
import { traceHeadersOf } from '../../lib/index.js'
import { propagationFor, type Propagation } from './propagation.js'
import { UnsampledRootSpan, unsampledWrites } from './unsampled-root.js'

/** Envoy's node id shape for a gateway (`router~<ip>~<id>~<domain>`), without a pod to name. */
export const NODE_ID = `router~${hostname()}~portcullis`

interface HeaderTag {
  readonly tag: string
  readonly name: string
  readonly defaultValue: string | undefined
}

export function createRequestTracer(tracer: Tracer, plan: ir.TracingPlan): RequestTracer {
  // Literal and environment tags are fixed for the snapshot: resolved once, here.
  const fixed: Record<string, string> = {
    component: 'proxy',
    node_id: NODE_ID,
    'istio.canonical_service': plan.serviceName,
  }
  const headerTags: HeaderTag[] = []
  for (const t of plan.customTags) {
    if (t.kind === 'literal') fixed[t.tag] = t.value
    else if (t.kind === 'environment') {
      const v = process.env[t.name] ?? t.defaultValue
      if (v !== undefined) fixed[t.tag] = v
    } else headerTags.push({ tag: t.tag, name: t.name, defaultValue: t.defaultValue })
  }
  const ratio = plan.samplingPercent / 100
  const propagation = propagationFor(plan.propagation)
  const readsW3c = plan.propagation.includes('w3c')
  const readsB3 = plan.propagation.includes('b3')
  const writes = unsampledWrites(plan.propagation)
  const startSpan = (
    request: TracedRequest,
    operation: string,
    parent: Context,
    clientSentContext: boolean,
  ): RequestSpan => {
    const span = tracer.startSpan(
      operation,
      { kind: otelApi().SpanKind.SERVER, startTime: request.startTime },
      parent,
    )
    if (span.isRecording()) tagStart(span, request, fixed, headerTags)
    return new TracedSpan(span, request.startTime, tracer, fixed, clientSentContext, propagation)
  }
  return {
    traceHeaders: traceHeadersOf(plan.propagation),
    start(request: TracedRequest, operation: string): RequestSpan {
      const headers = request.req.headers
      const sentContext = (readsW3c && hasW3cContext(headers)) || (readsB3 && hasB3Context(headers))
      if (sentContext) {
        const parent = propagation.extract(headers)
        // A valid parent decides, sampled or not (the SDK's ParentBased sampler).
        if (isSpanContextValid(otelApi().trace.getSpanContext(parent))) {
          return startSpan(request, operation, parent, true)
        }
      }
      // A root: the sampling percentage decides here, so an unsampled root never reaches the
      // SDK (whose root sampler is AlwaysOn for the roots sampled here). A root under headers
      // that held no valid context still has those headers to drop upstream.
      if (!(Math.random() < ratio)) {
        return new UnsampledRootSpan(sentContext, writes)
      }
      return startSpan(request, operation, otelApi().ROOT_CONTEXT, sentContext)
    },
  }
}

/** Any of W3C_TRACE_HEADERS, named one by one: this runs for every traced request. */
export function hasW3cContext(h: IncomingHttpHeaders): boolean {
  return h['traceparent'] !== undefined || h['tracestate'] !== undefined
}

/** Any of B3_TRACE_HEADERS, named one by one. */
export function hasB3Context(h: IncomingHttpHeaders): boolean {
  return (
    h['b3'] !== undefined ||
    h['x-b3-traceid'] !== undefined ||
    h['x-b3-spanid'] !== undefined ||
    h['x-b3-parentspanid'] !== undefined ||
    h['x-b3-sampled'] !== undefined ||
    h['x-b3-flags'] !== undefined
  )
}

function isSpanContextValid(context: SpanContext | undefined): boolean {
  return context !== undefined && otelApi().isSpanContextValid(context)
}

function tagStart(
  span: Span,
  request: TracedRequest,
  fixed: Readonly<Record<string, string>>,
  headerTags: readonly HeaderTag[],
): void {
  const headers = request.req.headers
  const query = request.query === '' ? '' : `?${request.query}`
  span.setAttributes(fixed)
  span.setAttribute('http.method', request.method)
  span.setAttribute('http.url', `${request.scheme}://${request.authority}${request.path}${query}`)
  span.setAttribute('guid:x-request-id', request.requestId)
  const ua = headers['user-agent']
  span.setAttribute('user_agent', ua ?? '-')
  for (const t of headerTags) {
    const raw = headers[t.name]
    const v = Array.isArray(raw) ? raw.join(',') : (raw ?? t.defaultValue)
    if (v !== undefined) span.setAttribute(t.tag, v)
  }
}

class TracedSpan implements RequestSpan {
  readonly #span: Span
  readonly #startTime: number
  readonly #tracer: Tracer
  readonly #fixed: Readonly<Record<string, string>>
  readonly #propagation: Propagation
  readonly clientSentContext: boolean

  constructor(
    span: Span,
    startTime: number,
    tracer: Tracer,
    fixed: Readonly<Record<string, string>>,
    clientSentContext: boolean,
    propagation: Propagation,
  ) {
    this.clientSentContext = clientSentContext
    this.#span = span
    this.#startTime = startTime
    this.#tracer = tracer
    this.#fixed = fixed
    this.#propagation = propagation
  }

  inject(headers: string[]): void {
    this.#propagation.inject(otelApi().trace.setSpan(otelApi().ROOT_CONTEXT, this.#span), headers)
  }

  startAttempt(cluster: string, upstreamAddress: string, attempt: number): AttemptSpan | undefined {
    if (!this.#span.isRecording()) return undefined
    // Envoy names the router's upstream span `router <cluster> egress`.
    const span = this.#tracer.startSpan(
      `router ${cluster} egress`,
      { kind: otelApi().SpanKind.CLIENT },
      otelApi().trace.setSpan(otelApi().ROOT_CONTEXT, this.#span),
    )
    span.setAttributes(this.#fixed)
    span.setAttribute('upstream_cluster', cluster)
    span.setAttribute('upstream_address', upstreamAddress)
    span.setAttribute('retry.attempt', String(attempt))
    return new TracedAttempt(span, this.#propagation)
  }

  end(record: RequestRecord): void {
    const span = this.#span
    if (span.isRecording()) {
      span.setAttribute('http.protocol', record.protocol)
      span.setAttribute('http.status_code', String(record.status))
      span.setAttribute('response_flags', record.responseFlags)
      span.setAttribute('upstream_cluster', record.upstreamCluster ?? '-')
      span.setAttribute('request_size', String(record.bytesReceived))
      span.setAttribute('response_size', String(record.bytesSent))
      if (record.upstreamHost !== undefined)
        span.setAttribute('upstream_address', record.upstreamHost)
      // Envoy tags a span error for 5xx and for requests that never got a response.
      if (record.status >= 500 || record.status === 0) {
        span.setAttribute('error', 'true')
        span.setStatus({ code: otelApi().SpanStatusCode.ERROR })
      }
    }
    span.end(this.#startTime + record.durationMs)
  }
}

class TracedAttempt implements AttemptSpan {
  readonly #span: Span
  readonly #propagation: Propagation

  constructor(span: Span, propagation: Propagation) {
    this.#span = span
    this.#propagation = propagation
  }

  reparent(headers: string[]): void {
    const own: string[] = []
    this.#propagation.inject(otelApi().trace.setSpan(otelApi().ROOT_CONTEXT, this.#span), own)
    // Same names as the request span's injection, other span id: replace the values in place.
    for (let i = 0; i < own.length; i += 2) {
      const at = headers.indexOf(own[i]!)
      if (at >= 0 && at % 2 === 0) headers[at + 1] = own[i + 1]!
    }
  }

  end(status: number, failure: string | undefined): void {
    const span = this.#span
    if (status > 0) span.setAttribute('http.status_code', String(status))
    if (failure !== undefined) span.setAttribute('error.message', failure)
    if (status >= 500 || status === 0 || failure !== undefined) {
      span.setAttribute('error', 'true')
      span.setStatus({ code: otelApi().SpanStatusCode.ERROR })
    }
    span.end()
  }
}
