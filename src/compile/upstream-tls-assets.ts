/**
 * The TLS origination files every DestinationRule names, for runtime to read before a config is
 * accepted: the top-level `tls`, each `portLevelSettings[].tls`, each subset's and each subset
 * port's, whether or not a route uses the rule today (a ServiceEntry or route added later would,
 * and the docs promise the reload that names a missing file is the one refused). ISTIO_MUTUAL is
 * left out: its files are the mesh identity, checked with GatewayConfig.spec.meshIdentity.
 */
import type * as istio from '../config/index.js'
import { formatPath } from '../diag/index.js'
import type * as ir from '../ir/index.js'
import { compileUpstreamTls, tlsFileBase } from './upstream-tls.js'

type TrafficPolicy = NonNullable<istio.DestinationRuleSpec['trafficPolicy']>

export function destinationRuleTlsAssets(resources: istio.ResourceSet): ir.UpstreamTlsAssets[] {
  const out: ir.UpstreamTlsAssets[] = []
  for (const dr of resources.destinationRules) {
    const base = tlsFileBase(resources.gatewayConfig, dr)
    const add = (policy: TrafficPolicy | undefined, at: istio.Path): void => {
      if (policy === undefined) return
      const settings: [TrafficPolicy['tls'], istio.Path][] = [
        [policy.tls, [...at, 'tls']],
        ...(policy.portLevelSettings ?? []).map((p, i): [TrafficPolicy['tls'], istio.Path] => [
          p.tls,
          [...at, 'portLevelSettings', i, 'tls'],
        ]),
      ]
      for (const [tls, path] of settings) {
        if (tls?.mode === 'ISTIO_MUTUAL') continue
        const compiled = compileUpstreamTls(tls, dr.spec.host, base)
        if (compiled === undefined) continue
        const loc = dr.origin.locate(path)
        out.push({
          host: dr.spec.host,
          policy: compiled,
          origin: {
            resource: { kind: dr.kind, namespace: dr.metadata.namespace, name: dr.metadata.name },
            path: formatPath(path),
            file: loc.file,
            line: loc.line,
            col: loc.col,
          },
        })
      }
    }
    add(dr.spec.trafficPolicy, ['spec', 'trafficPolicy'])
    ;(dr.spec.subsets ?? []).forEach((s, i) =>
      add(s.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy']),
    )
  }
  return out
}
