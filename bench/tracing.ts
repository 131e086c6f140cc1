// The tracing targets: `portcullis` plus a Telemetry resource, unsampled (0 %: extract, a
// non-recording span, inject) and sampled at Istio's default 1 % with the spans exported over
// OTLP/HTTP to a receiver in this process (on the load generator's CPU, not the gateway's).
// Their CPU per request is printed against `portcullis` (issue 14: at most +2 % and +3 %).
import { startOtlpReceiver } from '../test/support/otlp-receiver.js'
import type { SpanReceiver } from '../test/support/span-receiver.js'
import type { Target } from './options.js'
import { cpuMicrosPerRequest, type TargetResult } from './report.js'
import { median, pairsByRound } from './rounds.js'

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

/**
 * CPU per request of each tracing target against `portcullis` in the same round, with the
 * issue's bound; with several rounds, also their median.
 */
export function formatTracingCost(results: TargetResult[]): string[] {
  const lines: string[] = []
  for (const [target, bound] of PAIRS) {
    const rounds = pairsByRound(results, target, 'portcullis')
    const pcts: number[] = []
    for (const { round, a: traced, b: base } of rounds) {
      const a = cpuMicrosPerRequest(base)
      const b = cpuMicrosPerRequest(traced)
      if (a === undefined || b === undefined) continue
      const pct = ((b - a) / a) * 100
      pcts.push(pct)
      const tag = rounds.length > 1 ? ` (round ${round})` : ''
      lines.push(
        `${target}${tag}: gateway CPU per request ${b >= a ? '+' : ''}${(b - a).toFixed(1)} µs ` +
          `(${a.toFixed(1)} → ${b.toFixed(1)}, ${signed(pct)} %; bound +${bound} %)`,
      )
    }
    if (pcts.length > 1) {
      lines.push(
        `${target}, median of ${pcts.length} rounds: ${signed(median(pcts))} % ` +
          `(range ${signed(Math.min(...pcts))} to ${signed(Math.max(...pcts))} %; bound +${bound} %)`,
      )
    }
  }
  return lines
}

function signed(pct: number): string {
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}`
}
