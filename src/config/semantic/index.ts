/**
 * Cross-field and cross-resource checks that a schema cannot express (Istio's validation.go
 * rules). Each file checks one kind; all of them only append diagnostics.
 */
import type { Diagnostic } from '../../diag/index.js'
import type { ResourceSet } from '../types.js'

export function checkSemantics(_set: ResourceSet, _diags: Diagnostic[]): void {
  // Filled in per kind (virtual-service.ts, gateway.ts, service-entry.ts, ...).
}
