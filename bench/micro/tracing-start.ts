/**
 * Per-request cost of tracing in the gateway's process: start the request's span, write its
 * context into the upstream head, end it. For a request without trace context at 0 % and at 1 %
 * sampling, and one that brings an unsampled `traceparent` (the SDK path), beside what the SDK
 * path cost a request without context before roots were decided ahead of the SDK.
 * Run: node --import tsx bench/micro/tracing-start.ts
 *
 * Only the synchronous part is timed; exported spans (1 % case) go to an exporter that drops
 * them. The header list is what reaches undici, whose own cost per extra header is not here.
 */
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import {
  BasicTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base'
import { ExportResultCode } from '@opentelemetry/core'
import type * as ir from '../../src/ir/index.js'
import type { RequestRecord, TracedRequest } from '../../src/observe/events.js'
import { createTracing, propagationFor } from '../../src/observe/tracing/index.js'

const BATCH = 20_000
const BATCHES = 30

const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: () => Promise.resolve(),
}

function request(headers: Record<string, string>): TracedRequest {
  return {
    startTime: Date.now(),
    method: 'GET',
    scheme: 'http',
    authority: 'api.example.com',
    path: '/api/v1/items/42',
    query: '',
    requestId: '6b1f3c2e-0000-4000-8000-000000000001',
    req: { headers: { host: 'api.example.com', 'user-agent': 'bench', ...headers } },
  }
}

const RECORD = {
  protocol: 'HTTP/1.1',
  status: 200,
  responseFlags: '-',
  upstreamCluster: 'outbound|80||api.example.com',
  bytesReceived: 0,
  bytesSent: 100,
  durationMs: 1,
} as unknown as RequestRecord

function plan(percent: number): ir.TracingPlan {
  return {
    providers: [],
    propagation: ['w3c', 'b3'],
    samplingPercent: percent,
    customTags: [],
    serviceName: 'bench',
    source: 'istio-system/bench',
  }
}

let sink = 0
function nsPer(run: () => void): number {
  let best = Infinity
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < BATCH; i++) run()
    const ns = Number(process.hrtime.bigint() - start) / BATCH
    if (ns < best) best = ns
  }
  return best
}

const tracing = createTracing({ delayMs: 60_000 })
const cases: [string, () => void][] = []
for (const percent of [0, 1]) {
  const tracer = tracing.tracerFor(plan(percent))
  const req = request({})
  cases.push([
    `no trace context, ${percent} % sampled`,
    () => {
      const span = tracer.start(req, 'api.example.com:80/*')
      const headers: string[] = []
      span.inject(headers)
      span.end(RECORD)
      sink += headers.length
    },
  ])
}
{
  const tracer = tracing.tracerFor(plan(1))
  const req = request({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' })
  cases.push([
    'unsampled traceparent (SDK path)',
    () => {
      const span = tracer.start(req, 'api.example.com:80/*')
      const headers: string[] = []
      span.inject(headers)
      span.end(RECORD)
      sink += headers.length
    },
  ])
}
{
  // The path every request without context took before: extract, the SDK's ratio sampler, inject.
  const provider = new BasicTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) }),
    spanProcessors: [new SimpleSpanProcessor(dropping)],
  })
  const sdk = provider.getTracer('bench')
  const propagation = propagationFor(['w3c', 'b3'])
  const req = request({})
  cases.push([
    'no trace context, 0 %, through the SDK (before)',
    () => {
      const parent = propagation.extract(req.req.headers)
      const span = sdk.startSpan('api.example.com:80/*', { kind: SpanKind.SERVER }, parent)
      const headers: string[] = []
      propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers)
      span.end()
      sink += headers.length
    },
  ])
}

console.log(`tracing per request, ns (best of ${BATCHES} batches of ${BATCH})`)
for (const [name, run] of cases) console.log(`${name.padEnd(48)} ${nsPer(run).toFixed(0)}`)
await tracing.shutdown()
if (sink < 0) console.log(sink)
