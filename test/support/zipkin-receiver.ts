// A Zipkin v2 receiver: POST /api/v2/spans with a JSON list of spans (zipkin2-api.yaml), as
// @opentelemetry/exporter-zipkin sends them.
import { startSpanReceiver, type ReceivedSpan, type SpanReceiver } from './span-receiver.js'

interface ZipkinSpan {
  traceId: string
  id: string
  parentId?: string
  name: string
  kind?: string
  timestamp: number
  duration: number
  localEndpoint?: { serviceName?: string }
  tags?: Record<string, string>
}

export function decodeZipkinJson(body: string): ReceivedSpan[] {
  const list = JSON.parse(body) as ZipkinSpan[]
  if (!Array.isArray(list)) throw new Error('expected a JSON list of spans')
  return list.map((s) => ({
    traceId: s.traceId,
    spanId: s.id,
    parentId: s.parentId,
    name: s.name,
    kind: s.kind ?? '',
    serviceName: s.localEndpoint?.serviceName,
    tags: s.tags ?? {},
    startMicros: s.timestamp,
    durationMicros: s.duration,
  }))
}

export function startZipkinReceiver(
  opts: { path?: string; status?: number } = {},
): Promise<SpanReceiver> {
  return startSpanReceiver({
    path: opts.path ?? '/api/v2/spans',
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    decode: (body) => decodeZipkinJson(body),
  })
}
