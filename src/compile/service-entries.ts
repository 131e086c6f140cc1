/**
 * Finding the ServiceEntry behind a destination host. The most specific host wins, as Istio
 * picks services and DestinationRules: an exact name, then the longest wildcard. Among equals,
 * an entry in the route's own namespace wins, then file order. `exportTo` must admit the
 * route's namespace.
 */
import { hostCovers, isWildcardHost } from '../lib/index.js'
import type * as istio from '../config/index.js'
import { isExportedTo } from './names.js'

export interface ServiceMatch {
  readonly se: istio.ServiceEntry
  /** Index of the matching host in spec.hosts. */
  readonly hostIndex: number
  /** The SE host (lower case) that matched: the name itself or a wildcard covering it. */
  readonly pattern: string
}

export interface ServiceIndex {
  /** The ServiceEntry whose host covers `name` (lower case), as seen from `namespace`. */
  find(name: string, namespace: string): ServiceMatch | undefined
}

/**
 * Ranks how specifically `pattern` names `name`: exact beats any wildcard, a longer wildcard
 * beats a shorter one. Undefined when the pattern does not cover the name.
 */
export function hostSpecificity(pattern: string, name: string): number | undefined {
  // Host names are at most 255 characters, so any wildcard ranks below an exact name.
  if (pattern === name) return 1000
  if (!isWildcardHost(pattern) || !hostCovers(pattern, name)) return undefined
  return pattern.length
}

export function createServiceIndex(serviceEntries: readonly istio.ServiceEntry[]): ServiceIndex {
  const entries = serviceEntries.flatMap((se) =>
    se.spec.hosts.map((h, hostIndex) => ({ se, hostIndex, pattern: h.toLowerCase() })),
  )
  return {
    find(name, namespace) {
      let best: ServiceMatch | undefined
      let bestRank = -1
      for (const e of entries) {
        const ns = e.se.metadata.namespace
        if (!isExportedTo(e.se.spec.exportTo, ns, namespace)) continue
        const spec = hostSpecificity(e.pattern, name)
        if (spec === undefined) continue
        // Specificity first, then "same namespace as the route"; file order breaks ties.
        const rank = spec * 2 + (ns === namespace ? 1 : 0)
        if (rank > bestRank) {
          best = e
          bestRank = rank
        }
      }
      return best
    },
  }
}
