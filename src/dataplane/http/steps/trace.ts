/**
 * Tracing, two steps as the span's life needs them: `trace-start` continues the incoming trace
 * context (in the plan's formats, W3C and/or B3) or starts one and opens the request's span
 * before any other route step, so every outcome of the route, a preflight, a 429, a redirect or
 * a forward, is inside it; `trace-inject` replaces the client's trace headers of those formats in
 * the upstream head with this span's context, once the head is built. The span ends with the request's record (record/
 * http-record.ts), the one place every outcome passes. A snapshot without a tracing plan gives
 * no tracer, so no route prepares these steps and requests pay nothing for tracing.
 */
import type * as ir from '../../../ir/index.js'
import type { RequestTracer } from '../../../observe/events.js'
import type { RequestStep, StepInputs } from '../step.js'

/** Builds the tracer of a snapshot's plan (observe/tracing); the composition root passes it. */
export interface TracerSource {
  tracerFor(plan: ir.TracingPlan): RequestTracer
}

interface TraceStart {
  readonly tracer: RequestTracer
  /** The span name, fixed per route; undefined: Host and path of each request. */
  readonly operation: string | undefined
}

export const traceStartStep: RequestStep<TraceStart> = {
  name: 'trace-start',
  prepare: ({ route, tracer }) =>
    tracer === undefined ? undefined : { tracer, operation: operationName(route) },
  run(ctx, state) {
    ctx.trace = state.tracer.start(ctx, state.operation ?? ctx.authority + ctx.path)
    return true
  },
}

interface TraceInject {
  /** The route's header rules set or add a trace header, so the head may hold one anyway. */
  readonly routeWritesTraceHeaders: boolean
  /** The tracer's trace headers (its formats), the ones replaced. */
  readonly traceHeaders: ReadonlySet<string>
}

export const traceInjectStep: RequestStep<TraceInject> = {
  name: 'trace-inject',
  prepare: ({ route, tracer }: StepInputs) =>
    tracer !== undefined && route.action.kind === 'forward'
      ? {
          routeWritesTraceHeaders: writesTraceHeaders(route, tracer.traceHeaders),
          traceHeaders: tracer.traceHeaders,
        }
      : undefined,
  run(ctx, state) {
    const headers = ctx.upstreamHeaders
    const span = ctx.trace
    if (headers === undefined || span === undefined) return true
    // Without the client's trace headers and none from the route there is nothing to drop:
    // the case of most requests at an edge, which then skip a pass over every header.
    if (span.clientSentContext || state.routeWritesTraceHeaders)
      dropTraceHeaders(headers, state.traceHeaders)
    // x-envoy-attempt-count stays the last pair (a retry rewrites that slot): the context goes
    // after it, then the pair moves to the end. Not by shortening the list first: setting an
    // array's length is a call into the runtime, several times the cost of moving two slots.
    const last = headers.length - 2
    const countName = headers[last]!
    const countValue = headers[last + 1]!
    span.inject(headers)
    const end = headers.length - 2
    for (let i = last; i < end; i++) headers[i] = headers[i + 2]!
    headers[end] = countName
    headers[end + 1] = countValue
    return true
  },
}

function writesTraceHeaders(route: ir.HttpRoute, traceHeaders: ReadonlySet<string>): boolean {
  const writes = (rules: ir.HeaderRules): boolean =>
    [...rules.request.set, ...rules.request.add].some(([name]) =>
      traceHeaders.has(name.toLowerCase()),
    )
  if (writes(route.headers)) return true
  return route.action.kind === 'forward' && route.action.destinations.some((d) => writes(d.headers))
}

/**
 * Istio names a route's span by its route decorator, `<destination host>:<port>/*` (the first
 * destination); routes without a destination (redirects, direct responses) are named by Host
 * and path, as Envoy names a span without a decorator.
 */
function operationName(route: ir.HttpRoute): string | undefined {
  if (route.action.kind !== 'forward') return undefined
  const first = route.action.destinations[0]
  return first === undefined ? undefined : `${first.host}:${first.port}/*`
}

/** The client's trace headers go; the gateway's span is the upstream's parent. */
function dropTraceHeaders(headers: string[], traceHeaders: ReadonlySet<string>): void {
  let w = 0
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r]!
    const c = name.charCodeAt(0) | 0x20
    // Only names starting with b, t or x can be trace headers: most are skipped on one compare.
    if ((c === 0x62 || c === 0x74 || c === 0x78) && traceHeaders.has(name.toLowerCase())) continue
    headers[w++] = name
    headers[w++] = headers[r + 1]!
  }
  headers.length = w
}
