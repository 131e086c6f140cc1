/**
 * Sidecar checks from Istio's ValidateSidecar: some configuration must be given, egress hosts
 * are `namespace/dnsName`, and the workload selector has no wildcards.
 */
import type { Diagnostic } from '../../diag/index.js'
import { checkDnsName } from '../../lib/index.js'
import type { Sidecar } from '../types.js'
import { checkSelectorLabels, isDnsLabel } from './names.js'
import { createReporter } from './report.js'

export function checkSidecar(sc: Sidecar, diags: Diagnostic[]): void {
  const report = createReporter(sc, diags)
  const spec = sc.spec
  if (spec.workloadSelector !== undefined) {
    checkSelectorLabels(
      spec.workloadSelector.labels,
      ['spec', 'workloadSelector', 'labels'],
      report,
    )
  }
  if (
    (spec.egress?.length ?? 0) === 0 &&
    (spec.ingress?.length ?? 0) === 0 &&
    spec.outboundTrafficPolicy === undefined &&
    spec.inboundConnectionPool === undefined
  ) {
    report(
      'PC1601',
      spec.egress !== undefined ? ['spec', 'egress'] : ['spec'],
      'sidecar: empty configuration provided (give egress hosts or an outboundTrafficPolicy)',
    )
  }
  spec.egress?.forEach((listener, i) => {
    listener.hosts.forEach((host, j) => {
      const problem = egressHostProblem(host)
      if (problem !== undefined) report('PC1602', ['spec', 'egress', i, 'hosts', j], problem)
    })
  })
}

/** `namespace/dnsName`: namespace `*`, `.`, `~` or a name; dnsName `*` or a (wildcard) DNS name. */
function egressHostProblem(host: string): string | undefined {
  const slash = host.indexOf('/')
  if (slash < 0)
    return `host "${host}" must be of form namespace/dnsName (for example "./${host}" or "*/${host}")`
  const ns = host.slice(0, slash)
  const name = host.slice(slash + 1)
  if (ns === '' || name === '') return 'config namespace and dnsName in host entry cannot be empty'
  if (ns !== '*' && ns !== '.' && ns !== '~' && !isDnsLabel(ns)) {
    return `invalid namespace value "${ns}" in sidecar`
  }
  if (name === '*') return undefined
  const problem = checkDnsName(name, { allowWildcard: true })
  return problem !== undefined ? `invalid host "${host}": ${problem}` : undefined
}
