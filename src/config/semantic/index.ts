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

export function checkSemantics(set: ResourceSet, diags: Diagnostic[]): void {
  for (const gw of set.gateways) checkGateway(gw, diags)
  for (const vs of set.virtualServices) checkVirtualService(vs, diags)
  for (const dr of set.destinationRules) checkDestinationRule(dr, diags)
  for (const se of set.serviceEntries) checkServiceEntry(se, diags)
  for (const sc of set.sidecars) checkSidecar(sc, diags)
  checkGatewayConfig(set.gatewayConfig, set.gateways, diags)
  checkCertificates(set, diags)
  checkMeshIdentity(set, diags)
  checkTracing(set, diags)
}
export { issuerOf, solverFor } from './cert-manager.js'
