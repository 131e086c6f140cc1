/**
 * DestinationRule checks from Istio's ValidateDestinationRule: the host, unique and valid subset
 * names, and load balancer settings in every traffic policy (top level, per port, per subset).
 */
import type { Diagnostic } from '../../diag/index.js'
import { checkDnsName } from '../../lib/index.js'
import type { DestinationRule, DestinationRuleSpec, Path } from '../types.js'
import { isDnsLabel } from './names.js'
import { at, createReporter, type Report } from './report.js'

type TrafficPolicy = NonNullable<DestinationRuleSpec['trafficPolicy']>
type LoadBalancer = NonNullable<TrafficPolicy['loadBalancer']>

/** Envoy's slow start exists only for these; the others ignore warmup. */
const WARMUP_POLICIES = new Set(['UNSPECIFIED', 'ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN'])
const MAGLEV_MAX_TABLE = 5000011

export function checkDestinationRule(dr: DestinationRule, diags: Diagnostic[]): void {
  const report = createReporter(dr, diags)
  const spec = dr.spec
  const hostProblem = checkDnsName(spec.host, { allowWildcard: true })
  if (hostProblem !== undefined) {
    report('PC1112', ['spec', 'host'], `invalid host "${spec.host}": ${hostProblem}`)
  }
  checkTrafficPolicy(spec.trafficPolicy, ['spec', 'trafficPolicy'], report)
  const seen = new Map<string, number>()
  spec.subsets?.forEach((subset, i) => {
    const path: Path = ['spec', 'subsets', i]
    const first = seen.get(subset.name)
    if (first !== undefined) {
      report(
        'PC1401',
        at(path, 'name'),
        `duplicate subset names: ${subset.name} (also defined by spec.subsets[${first}])`,
      )
    } else seen.set(subset.name, i)
    if (!isDnsLabel(subset.name)) {
      report(
        'PC1104',
        at(path, 'name'),
        `subset name is invalid: ${subset.name} (lower-case letters, digits and '-')`,
      )
    }
    checkTrafficPolicy(subset.trafficPolicy, at(path, 'trafficPolicy'), report)
  })
}

function checkTrafficPolicy(tp: TrafficPolicy | undefined, path: Path, report: Report): void {
  if (tp === undefined) return
  checkLoadBalancer(tp.loadBalancer, at(path, 'loadBalancer'), report)
  tp.portLevelSettings?.forEach((p, i) =>
    checkLoadBalancer(p.loadBalancer, at(path, 'portLevelSettings', i, 'loadBalancer'), report),
  )
}

function checkLoadBalancer(lb: LoadBalancer | undefined, path: Path, report: Report): void {
  if (lb === undefined) return
  const hash = lb.consistentHash
  if (hash !== undefined) {
    if (
      hash.minimumRingSize !== undefined &&
      hash.minimumRingSize !== 0 &&
      (hash.ringHash !== undefined || hash.maglev !== undefined)
    ) {
      report(
        'PC1402',
        at(path, 'consistentHash', 'minimumRingSize'),
        'only one of minimumRingSize or maglev/ringHash can be specified',
      )
    }
    const size = hash.maglev?.tableSize
    if (hash.maglev !== undefined) {
      const tp = at(path, 'consistentHash', 'maglev', 'tableSize')
      if (size === undefined || size === 0) {
        report('PC1402', tp, 'tableSize must be set for maglev')
      } else if (size >= MAGLEV_MAX_TABLE) {
        report('PC1402', tp, `tableSize must be less than ${MAGLEV_MAX_TABLE} for maglev`)
      } else if (!isPrime(size)) {
        report('PC1402', tp, 'tableSize must be a prime number for maglev')
      }
    }
  }
  const warmup =
    lb.warmup !== undefined
      ? 'warmup'
      : lb.warmupDurationSecs !== undefined
        ? 'warmupDurationSecs'
        : undefined
  if (warmup !== undefined) {
    const policy = hash !== undefined ? 'consistentHash' : (lb.simple ?? 'UNSPECIFIED')
    if (!WARMUP_POLICIES.has(policy)) {
      report(
        'PC1403',
        at(path, warmup),
        `${warmup} only applies to ROUND_ROBIN and LEAST_REQUEST load balancing; with ${policy} it has no effect`,
      )
    }
  }
}

/** Envoy's check for maglev table sizes (source/common/common/utility.cc). */
function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true
  if (x % 2 === 0) return false
  const limit = Math.floor(Math.sqrt(x))
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false
  return true
}
