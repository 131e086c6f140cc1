/**
 * ISTIO_MUTUAL needs the mesh identity files. Without them it cannot be served, so each use is
 * error PC1113, saying where the files were looked for and how to point at them. The content of
 * the files (PEM, key pair, validity) is checked after compile with the other certificates.
 */
import { existsSync } from 'node:fs'
import type { Diagnostic } from '../../diag/index.js'
import { istioMutualUses, meshIdentityFiles, type MeshIdentityFile } from '../mesh-identity.js'
import type { ResourceSet } from '../types.js'
import { createReporter } from './report.js'

const FILES: readonly MeshIdentityFile[] = ['certChain', 'privateKey', 'rootCert']

export function checkMeshIdentity(set: ResourceSet, diags: Diagnostic[]): void {
  const uses = istioMutualUses(set)
  if (uses.length === 0) return
  const files = meshIdentityFiles(set.gatewayConfig)
  const missing = FILES.filter((k) => !existsSync(files[k]))
  if (missing.length === 0) return
  const list = missing.map((k) => `${k} ${files[k]}`).join(', ')
  const message =
    `ISTIO_MUTUAL needs the mesh identity, and ${missing.length === 1 ? 'its file is' : 'these files are'} missing: ${list}. ` +
    'Set GatewayConfig spec.meshIdentity (certChain: the workload certificate chain with its spiffe:// URI SAN, privateKey: its key, rootCert: the mesh root CA; trustDomain, default cluster.local), ' +
    "or mount Istio's workload certificates at /etc/certs; or use MUTUAL with clientCertificate/privateKey or credentialName"
  for (const use of uses) createReporter(use.resource, diags)('PC1113', use.path, message)
}
