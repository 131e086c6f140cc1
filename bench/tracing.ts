// The tracing targets: `portcullis` plus a Telemetry resource, unsampled (0 %: extract, a
// non-recording span, inject) and sampled at Istio's default 1 % with the spans exported over
// OTLP/HTTP to a receiver in this process (on the load generator's CPU, not the gateway's).
// Their CPU per request is printed against `portcullis` (issue 14: at most +2 % and +3 %).
import { startOtlpReceiver } from '../test/support/otlp-receiver.js'
import type { SpanReceiver } from '../test/support/span-receiver.js'
import type { Target } from './options.js'
import { cpuMicrosPerRequest, type TargetResult } from './report.js'

export const TRACING_DESCRIPTIONS = {
  'portcullis-tracing-unsampled':
    'Portcullis as `portcullis` plus a Telemetry tracing at 0 % (context propagated, nothing exported)',
  'portcullis-tracing-sampled':
    'Portcullis as `portcullis` plus a Telemetry tracing at 1 %, spans exported over OTLP/HTTP',
} as const satisfies Partial<Record<Target, string>>

export interface TracingSetup {
  /** GatewayConfig lines and extra documents for startPortcullis. */
  readonly extra: { readonly spec: string[]; readonly docs: string }
  readonly receiver: SpanReceiver
}

export async function tracingSetup(percent: number): Promise<TracingSetup> {
  const receiver = await startOtlpReceiver()
  const spec = [
    '  extensionProviders:',
    '    - name: otel',
    '      opentelemetry:',
    '        service: 127.0.0.1',
    `        port: ${receiver.port}`,
    '        http: { path: /v1/traces }',
  ]
  const docs = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: bench, namespace: istio-system }
spec:
  tracing:
    - providers: [{ name: otel }]
      randomSamplingPercentage: ${percent}
`
  return { extra: { spec, docs }, receiver }
}

const PAIRS: readonly (readonly [Target, number])[] = [
  ['portcullis-tracing-unsampled', 2],
  ['portcullis-tracing-sampled', 3],
]

/** CPU per request of each tracing target against `portcullis`, with the bound. */
export function formatTracingCost(results: TargetResult[]): string[] {
  const base = results.find((r) => r.target === 'portcullis')
  const a = base ? cpuMicrosPerRequest(base) : undefined
  if (a === undefined) return []
  const lines: string[] = []
  for (const [target, bound] of PAIRS) {
    const r = results.find((x) => x.target === target)
    const b = r ? cpuMicrosPerRequest(r) : undefined
    if (b === undefined) continue
    const pct = ((b - a) / a) * 100
    lines.push(
      `${target}: gateway CPU per request ${b >= a ? '+' : ''}${(b - a).toFixed(1)} µs ` +
        `(${a.toFixed(1)} → ${b.toFixed(1)}, ${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %; bound +${bound} %)`,
    )
  }
  return lines
}
