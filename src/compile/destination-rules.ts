/**
 * Finding the DestinationRule for a destination host: the most specific `host` that covers it.
 * Rules in the route's own namespace are preferred, then rules exported to it from elsewhere
 * (Istio looks in the proxy's namespace first). Short DR hosts are expanded in the rule's
 * namespace.
 */
import type * as istio from '../config/index.js'
import { expandShortName, isExportedTo } from './names.js'
import { hostSpecificity } from './service-entries.js'

export interface DestinationRuleIndex {
  find(host: string, namespace: string): istio.DestinationRule | undefined
}

export function createDestinationRuleIndex(
  rules: readonly istio.DestinationRule[],
): DestinationRuleIndex {
  const entries = rules.map((dr) => ({
    dr,
    patterns: [
      ...new Set([
        dr.spec.host.toLowerCase(),
        expandShortName(dr.spec.host, dr.metadata.namespace),
      ]),
    ],
  }))
  return {
    find(host, namespace) {
      let best: istio.DestinationRule | undefined
      let bestRank = -1
      for (const { dr, patterns } of entries) {
        const ns = dr.metadata.namespace
        if (!isExportedTo(dr.spec.exportTo, ns, namespace)) continue
        let spec: number | undefined
        for (const p of patterns) {
          const s = hostSpecificity(p, host)
          if (s !== undefined && (spec === undefined || s > spec)) spec = s
        }
        if (spec === undefined) continue
        // Own namespace first, then specificity; file order breaks ties.
        const rank = (ns === namespace ? 10_000 : 0) + spec
        if (rank > bestRank) {
          best = dr
          bestRank = rank
        }
      }
      return best
    },
  }
}
