/**
 * RateLimitPolicy → IR rate-limit policies. Targets resolve to HTTP route ids: a Gateway covers
 * every HTTP route of the VirtualServices bound to it, a VirtualService all its HTTP routes, or
 * the one named by `sectionName`. A target that resolves to nothing is a warning: the policy
 * then limits nothing, which an operator must hear about.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { BoundVirtualService } from './binding.js'
import type { DiagSink } from './diagnostics.js'
import { compileRequestMatch } from './matches.js'
import { sourceRef } from './source-ref.js'

const UNIT_MS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const

export function compileRateLimits(
  resources: istio.ResourceSet,
  bindings: readonly BoundVirtualService[],
  sink: DiagSink,
): readonly ir.RateLimitPolicy[] {
  return resources.rateLimitPolicies.map((policy) =>
    compilePolicy(policy, resources, bindings, sink),
  )
}

function compilePolicy(
  policy: istio.RateLimitPolicy,
  resources: istio.ResourceSet,
  bindings: readonly BoundVirtualService[],
  sink: DiagSink,
): ir.RateLimitPolicy {
  const ns = policy.metadata.namespace
  const routes = new Set<ir.RouteId>()
  policy.spec.targetRefs.forEach((ref, i) => {
    const path = ['spec', 'targetRefs', i]
    const targetNs = ref.namespace ?? ns
    const key = `${targetNs}/${ref.name}`
    if (ref.kind === 'Gateway') {
      const exists = resources.gateways.some(
        (g) => g.metadata.namespace === targetNs && g.metadata.name === ref.name,
      )
      if (!exists) {
        sink.report('PC2008', policy, path, `Gateway ${key} does not exist`)
        return
      }
      for (const bound of bindings) {
        if (bound.gateways.has(key)) addRoutes(bound.vs, undefined, routes)
      }
      return
    }
    const vs = resources.virtualServices.find(
      (v) => v.metadata.namespace === targetNs && v.metadata.name === ref.name,
    )
    if (vs === undefined) {
      sink.report('PC2008', policy, path, `VirtualService ${key} does not exist`)
      return
    }
    if (addRoutes(vs, ref.sectionName, routes) === 0 && ref.sectionName !== undefined) {
      sink.report(
        'PC2009',
        policy,
        [...path, 'sectionName'],
        `VirtualService ${key} has no http route named "${ref.sectionName}"`,
      )
    }
  })
  return {
    id: `${ns}/${policy.metadata.name}`,
    failureMode: policy.spec.failureMode ?? 'open',
    shadow: policy.spec.shadow ?? false,
    rules: policy.spec.rules.map((rule, index) => ({
      index,
      match: (rule.match ?? []).map(compileRequestMatch),
      by: (rule.by ?? []).map(compileKeyPart),
      requests: rule.limit.requests,
      periodMs: UNIT_MS[rule.limit.unit],
      source: sourceRef(policy, ['spec', 'rules', index]),
    })),
    routes: [...routes].sort(),
    source: sourceRef(policy, []),
  }
}

function addRoutes(
  vs: istio.VirtualService,
  sectionName: string | undefined,
  into: Set<ir.RouteId>,
): number {
  let added = 0
  vs.spec.http?.forEach((route, index) => {
    if (sectionName !== undefined && route.name !== sectionName) return
    into.add(`${vs.metadata.namespace}/${vs.metadata.name}/http[${index}]`)
    added++
  })
  return added
}

function compileKeyPart(by: string): ir.RateLimitKeyPart {
  switch (by) {
    case 'clientIp':
    case 'host':
    case 'route':
      return { kind: by }
    default:
      return { kind: 'header', name: by.slice('header:'.length) }
  }
}
