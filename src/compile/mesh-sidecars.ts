/**
 * Which Sidecars configure this instance, as Istio picks the Sidecar of a workload: the
 * instance is a workload in `outbound.namespace` (default `default`) with GatewayConfig
 * `spec.labels`. A Sidecar in that namespace whose `workloadSelector` matches the labels wins;
 * else one there without a selector; else one without a selector in the root namespace
 * (`istio-system`), Istio's mesh-wide default. Sidecars that select another workload or live
 * in another namespace do not apply, and validate says so. An instance without labels is every
 * workload, as for Gateway selectors.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { DiagSink } from './diagnostics.js'

/** Istio's default root namespace: Sidecars there without a selector apply mesh-wide. */
export const ROOT_NAMESPACE = 'istio-system'

function formatLabels(labels: Readonly<Record<string, string>>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')}}`
}

export function selectSidecars(
  sidecars: readonly istio.Sidecar[],
  settings: ir.GatewaySettings,
  namespace: string,
  sink: DiagSink | undefined,
): istio.Sidecar[] {
  const labels = settings.labels
  const hasLabels = Object.keys(labels).length > 0
  const selecting: istio.Sidecar[] = []
  const local: istio.Sidecar[] = []
  const root: istio.Sidecar[] = []
  for (const sc of sidecars) {
    const selector = sc.spec.workloadSelector?.labels
    const ns = sc.metadata.namespace
    if (selector !== undefined) {
      const matches = !hasLabels || Object.entries(selector).every(([k, v]) => labels[k] === v)
      if (ns === namespace && matches) {
        selecting.push(sc)
        continue
      }
      sink?.report(
        'PC2016',
        sc,
        ns === namespace ? ['spec', 'workloadSelector', 'labels'] : ['metadata', 'namespace'],
        ns === namespace
          ? `workloadSelector ${formatLabels(selector)} does not match this instance's labels ${formatLabels(labels)} (GatewayConfig spec.labels), so this Sidecar does not apply`
          : `a Sidecar with a workloadSelector applies in its own namespace "${ns}" only, and this instance is in "${namespace}" (GatewayConfig spec.outbound.namespace), so it does not apply`,
      )
      continue
    }
    if (ns === namespace) local.push(sc)
    else if (ns === ROOT_NAMESPACE) root.push(sc)
    else {
      sink?.report(
        'PC2016',
        sc,
        ['metadata', 'namespace'],
        `this Sidecar configures workloads in "${ns}", and this instance is in "${namespace}" (GatewayConfig spec.outbound.namespace), so it does not apply`,
      )
    }
  }
  if (selecting.length > 0) return selecting
  if (local.length > 0) return local
  return root
}
