/**
 * Telemetry tracing + GatewayConfig extensionProviders → ir.TracingPlan. config/ has reported
 * unknown providers, duplicate names and extra Telemetry resources; here the first Telemetry's
 * first tracing entry decides, as the semantic checks describe. No Telemetry with tracing: no
 * plan, and no route prepares the trace steps.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

/** Istio's meshConfig.defaultConfig.tracing.sampling default. */
export const DEFAULT_SAMPLING_PERCENT = 1
const DEFAULT_TIMEOUT_MS = 10_000

export function compileTracing(
  resources: istio.ResourceSet,
  settings: ir.GatewaySettings,
): ir.TracingPlan | undefined {
  const telemetry = (resources.telemetries ?? []).find((t) => (t.spec.tracing?.length ?? 0) > 0)
  const tracing = telemetry?.spec.tracing?.[0]
  if (telemetry === undefined || tracing === undefined) return undefined
  const defined = resources.gatewayConfig?.spec.extensionProviders ?? []
  const named = (tracing.providers ?? []).flatMap((ref) => {
    const p = defined.find((d) => d.name === ref.name)
    return p === undefined ? [] : [p]
  })
  const providers: ir.TracingProvider[] = []
  if (tracing.disableSpanReporting !== true) {
    for (const p of named) {
      const compiled = compileProvider(p)
      if (compiled !== undefined) providers.push(compiled)
    }
  }
  const customTags: ir.TracingCustomTag[] = []
  for (const [tag, t] of Object.entries(tracing.customTags ?? {})) {
    if (t.literal !== undefined) customTags.push({ tag, kind: 'literal', value: t.literal.value })
    else if (t.header !== undefined) {
      customTags.push({
        tag,
        kind: 'header',
        name: t.header.name.toLowerCase(),
        defaultValue: t.header.defaultValue,
      })
    } else if (t.environment !== undefined) {
      customTags.push({
        tag,
        kind: 'environment',
        name: t.environment.name,
        defaultValue: t.environment.defaultValue,
      })
    }
  }
  const labels = settings.labels
  return {
    providers,
    propagation: propagationOf(named),
    samplingPercent: tracing.randomSamplingPercentage ?? DEFAULT_SAMPLING_PERCENT,
    customTags,
    serviceName: labels['service.istio.io/canonical-name'] ?? labels['app'] ?? 'portcullis',
    source: `${telemetry.metadata.namespace}/${telemetry.metadata.name}`,
  }
}

/**
 * The formats the named providers' tracers read and write in Envoy (ir.TracingPlan.propagation),
 * in the order the providers are named. A Telemetry that names no provider served here
 * propagates both, W3C first, so a service behind the gateway continues the trace whichever it
 * reads.
 */
function propagationOf(
  named: readonly istio.schema.ExtensionProviderSpec[],
): ir.TraceContextFormat[] {
  const formats: ir.TraceContextFormat[] = []
  const add = (f: ir.TraceContextFormat): void => {
    if (!formats.includes(f)) formats.push(f)
  }
  for (const p of named) {
    if (p.opentelemetry?.http !== undefined) add('w3c')
    else if (p.zipkin !== undefined) {
      add('b3')
      if (p.zipkin.traceContextOption === 'USE_B3_WITH_W3C_PROPAGATION') add('w3c')
    }
  }
  return formats.length > 0 ? formats : ['w3c', 'b3']
}

function compileProvider(p: istio.schema.ExtensionProviderSpec): ir.TracingProvider | undefined {
  const otel = p.opentelemetry
  if (otel?.http !== undefined) {
    return {
      kind: 'opentelemetry',
      name: p.name,
      url: `http://${hostPort(otel.service, otel.port)}${otel.http.path ?? '/v1/traces'}`,
      timeoutMs: otel.http.timeout ?? DEFAULT_TIMEOUT_MS,
      headers: {},
    }
  }
  const zipkin = p.zipkin
  if (zipkin !== undefined) {
    return {
      kind: 'zipkin',
      name: p.name,
      url: `http://${hostPort(zipkin.service, zipkin.port)}${zipkin.path ?? '/api/v2/spans'}`,
      timeoutMs: zipkin.timeout ?? DEFAULT_TIMEOUT_MS,
      headers: {},
    }
  }
  return undefined
}

/** IPv6 literals need brackets in a URL. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
