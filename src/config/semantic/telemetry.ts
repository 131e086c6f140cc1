/**
 * Tracing references: extension provider names are unique in GatewayConfig (as in meshConfig),
 * an opentelemetry provider exports over HTTP (OTLP/gRPC is not served), every provider a
 * Telemetry names exists, and one Telemetry decides tracing for the gateway (without a mesh
 * there is no namespace or workload hierarchy to merge several).
 */
import type { Diagnostic } from '../../diag/index.js'
import type { ResourceSet } from '../types.js'
import { createReporter } from './report.js'

export function checkTracing(set: ResourceSet, diags: Diagnostic[]): void {
  const config = set.gatewayConfig
  const known = new Set<string>()
  if (config !== undefined) {
    const report = createReporter(config, diags)
    config.spec.extensionProviders?.forEach((p, i) => {
      const at = ['spec', 'extensionProviders', i]
      if (known.has(p.name)) {
        report('PC1703', [...at, 'name'], `extension provider "${p.name}" is defined twice`)
      }
      known.add(p.name)
      if (p.opentelemetry !== undefined && p.opentelemetry.http === undefined) {
        report(
          'PC1704',
          [...at, 'opentelemetry'],
          'opentelemetry provider without http exports over gRPC, which is not served: add http: {path: /v1/traces}',
        )
      }
    })
  }
  let deciding: string | undefined
  for (const t of set.telemetries ?? []) {
    const report = createReporter(t, diags)
    const tracing = t.spec.tracing
    if (tracing === undefined || tracing.length === 0) continue
    const id = `${t.metadata.namespace}/${t.metadata.name}`
    if (deciding !== undefined) {
      report(
        'PC2013',
        ['spec', 'tracing'],
        `Telemetry ${deciding} already decides tracing for this gateway; this one is not applied`,
      )
      continue
    }
    deciding = id
    if (tracing.length > 1) {
      report('PC2013', ['spec', 'tracing', 1], 'only the first tracing entry applies')
    }
    tracing[0]?.providers?.forEach((p, j) => {
      if (!known.has(p.name)) {
        report(
          'PC2012',
          ['spec', 'tracing', 0, 'providers', j, 'name'],
          `no extension provider "${p.name}" in GatewayConfig spec.extensionProviders${known.size > 0 ? ` (defined: ${[...known].join(', ')})` : ''}`,
        )
      }
    })
  }
}
