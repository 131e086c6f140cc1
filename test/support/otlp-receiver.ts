// An OTLP/HTTP trace receiver: what an OTLP/HTTP JSON exporter sends (OpenTelemetry's
// JsonTraceSerializer) is ExportTraceServiceRequest in protobuf's JSON mapping (Content-Type
// application/json), with trace and span ids as hex strings and times as unix nanoseconds in
// strings.
import { startSpanReceiver, type ReceivedSpan, type SpanReceiver } from './span-receiver.js'

interface AnyValue {
  stringValue?: string
  intValue?: string | number
  boolValue?: boolean
  doubleValue?: number
}
interface KeyValue {
  key: string
  value: AnyValue
}
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes?: KeyValue[]
}
interface ExportTraceServiceRequest {
  resourceSpans: {
    resource?: { attributes?: KeyValue[] }
    scopeSpans: { spans: OtlpSpan[] }[]
  }[]
}

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER']

function text(v: AnyValue): string {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return String(v.intValue)
  if (v.boolValue !== undefined) return String(v.boolValue)
  return String(v.doubleValue)
}

function attributes(list: KeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of list ?? []) out[kv.key] = text(kv.value)
  return out
}

export function decodeOtlpJson(body: string): ReceivedSpan[] {
  const request = JSON.parse(body) as ExportTraceServiceRequest
  if (!Array.isArray(request.resourceSpans)) throw new Error('no resourceSpans')
  const out: ReceivedSpan[] = []
  for (const rs of request.resourceSpans) {
    const serviceName = attributes(rs.resource?.attributes)['service.name']
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        if (!/^[0-9a-f]{32}$/.test(s.traceId) || !/^[0-9a-f]{16}$/.test(s.spanId)) {
          throw new Error(`ids are not hex: ${s.traceId} ${s.spanId}`)
        }
        const start = BigInt(s.startTimeUnixNano)
        const end = BigInt(s.endTimeUnixNano)
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentId:
            s.parentSpanId === undefined || s.parentSpanId === '' ? undefined : s.parentSpanId,
          name: s.name,
          kind: KINDS[s.kind] ?? String(s.kind),
          serviceName,
          tags: attributes(s.attributes),
          startMicros: Number(start / 1000n),
          durationMicros: Number((end - start) / 1000n),
        })
      }
    }
  }
  return out
}

export function startOtlpReceiver(
  opts: { path?: string; status?: number } = {},
): Promise<SpanReceiver> {
  return startSpanReceiver({
    path: opts.path ?? '/v1/traces',
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    decode: (body, req) => {
      if (req.headers['content-type'] !== 'application/json') {
        throw new Error(`content-type ${req.headers['content-type']}`)
      }
      return decodeOtlpJson(body)
    },
  })
}
