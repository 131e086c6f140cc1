/**
 * Cross-field and cross-resource checks that a schema cannot express (Istio's validation.go
 * rules). Each file checks one kind; all of them only append diagnostics, each with a code, the
 * resource, the field path and its position.
 */
import type { Diagnostic } from '../../diag/index.js'
import type { ResourceSet } from '../types.js'
import { checkCertificates } from './cert-manager.js'
import { checkDestinationRule } from './destination-rule.js'
import { checkGatewayConfig } from './gateway-config.js'
import { checkGateway } from './gateway.js'
import { checkMeshIdentity } from './mesh-identity.js'
import { checkServiceEntry } from './service-entry.js'
import { checkSidecar } from './sidecar.js'
import { checkTracing } from './telemetry.js'
import { checkVirtualService } from './virtual-service.js'

// The checks of one resource read that resource alone, and the parse cache keeps unchanged
// files' resources by identity: a reload checks again only the resources it parsed again.
// Weak, so a resource that left the config takes its diagnostics with it.
const ownChecks = new WeakMap<object, readonly Diagnostic[]>()

function checkOwn<T extends object>(
  r: T,
  check: (r: T, diags: Diagnostic[]) => void,
  diags: Diagnostic[],
): void {
  let found = ownChecks.get(r)
  if (found === undefined) {
    const own: Diagnostic[] = []
    check(r, own)
    found = own
    ownChecks.set(r, own)
  }
  for (const d of found) diags.push(d)
}

export function checkSemantics(set: ResourceSet, diags: Diagnostic[]): void {
  for (const gw of set.gateways) checkOwn(gw, checkGateway, diags)
  for (const vs of set.virtualServices) checkOwn(vs, checkVirtualService, diags)
  for (const dr of set.destinationRules) checkOwn(dr, checkDestinationRule, diags)
  for (const se of set.serviceEntries) checkOwn(se, checkServiceEntry, diags)
  for (const sc of set.sidecars) checkOwn(sc, checkSidecar, diags)
  checkGatewayConfig(set.gatewayConfig, set.gateways, diags)
  checkCertificates(set, diags)
  checkMeshIdentity(set, diags)
  checkTracing(set, diags)
}
export { issuerOf, solverFor } from './cert-manager.js'
