/**
 * A snapshot without a single listener serves nothing: no Gateway server applies to this
 * instance (none written, or their selectors match other instances) and GatewayConfig opens no
 * outbound or egress SNI listener. Refused like any error, so a config cut down by a bad edit
 * never replaces one that serves traffic.
 */
import type { Diagnostic } from '../diag/index.js'
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

export function servesNothing(
  resources: istio.ResourceSet,
  listeners: readonly ir.Listener[],
  egress: ir.Egress | undefined,
): Diagnostic | undefined {
  if (listeners.length > 0 || egress?.outbound !== undefined) return undefined
  if ((egress?.sniListeners?.length ?? 0) > 0) return undefined
  // Point at what would have to change: a Gateway first, else the GatewayConfig, else anything.
  const at: istio.AnyResource | undefined =
    resources.gateways[0] ?? resources.gatewayConfig ?? firstInFileOrder(resources)
  const why =
    resources.gateways.length === 0
      ? 'there is no Gateway'
      : 'no Gateway server is served by this instance (see the warnings above)'
  return {
    code: 'PC1009',
    severity: 'error',
    message: `no listener: ${why} and GatewayConfig has no outbound listener; the gateway would serve nothing`,
    ...(at !== undefined
      ? {
          resource: { kind: at.kind, namespace: at.metadata.namespace, name: at.metadata.name },
          loc: at.origin.loc,
        }
      : {}),
  }
}

function firstInFileOrder(r: istio.ResourceSet): istio.AnyResource | undefined {
  const all: istio.AnyResource[] = [
    ...r.virtualServices,
    ...r.destinationRules,
    ...r.serviceEntries,
    ...r.sidecars,
    ...r.rateLimitPolicies,
  ]
  let first: istio.AnyResource | undefined
  for (const res of all) {
    const a = res.origin.loc
    const b = first?.origin.loc
    if (b === undefined || a.file < b.file || (a.file === b.file && a.line < b.line)) first = res
  }
  return first
}
