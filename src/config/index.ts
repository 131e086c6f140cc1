/**
 * config/: YAML files → validated Istio resources + diagnostics. The only public surface is
 * loadConfig (files) and loadConfigText (in-memory, for tests and describe).
 */
import { sha256Hex } from '../lib/index.js'
import { hasErrors, sortDiagnostics, type Diagnostic } from '../diag/index.js'
import { collectFiles, parseSource, readSource, type SourceFile } from './load.js'
import { noResourcesDiagnostic } from './no-resources.js'
import { checkSemantics } from './semantic/index.js'
import type {
  AnyResource,
  Certificate,
  Issuer,
  DestinationRule,
  Gateway,
  GatewayConfig,
  RateLimitPolicy,
  ResourceSet,
  ServiceEntry,
  Sidecar,
  Telemetry,
  VirtualService,
} from './types.js'
import { validateDocument } from './validate.js'

export type * from './types.js'
export * as schema from './schema/index.js'
export { istioMutualUses, meshIdentityFiles, MESH_IDENTITY_DEFAULTS } from './mesh-identity.js'
export type { IstioMutualUse, MeshIdentityFiles } from './mesh-identity.js'

export interface LoadResult {
  readonly resources: ResourceSet
  readonly diagnostics: readonly Diagnostic[]
  /** sha256 over the files' names and bytes: unchanged input ⇒ same hash. */
  readonly sourceHash: string
  readonly files: readonly string[]
}

export function loadConfig(paths: readonly string[]): LoadResult {
  const diags: Diagnostic[] = []
  const files = collectFiles(paths, diags)
  if (files.length === 0 && diags.length === 0) {
    diags.push({
      code: 'PC1007',
      severity: 'error',
      message: `no .yaml or .yml files in ${paths.join(', ')}`,
    })
  }
  const sources: SourceFile[] = []
  for (const f of files) {
    const s = readSource(f, diags)
    if (s !== undefined) sources.push(s)
  }
  return loadSources(sources, diags)
}

/** Loads config from memory: `{ 'gateway.yaml': text }`. */
export function loadConfigText(files: Readonly<Record<string, string>>): LoadResult {
  const sources = Object.entries(files).map(([name, text]) => ({
    display: name,
    absolute: name,
    text,
  }))
  return loadSources(sources, [])
}

function loadSources(sources: readonly SourceFile[], diags: Diagnostic[]): LoadResult {
  const all: AnyResource[] = []
  for (const s of sources) {
    for (const doc of parseSource(s, diags)) {
      const r = validateDocument(doc, diags)
      if (r !== undefined) all.push(r)
    }
  }
  // Files that could not be read or parsed already say why nothing was loaded.
  if (all.length === 0 && sources.length > 0 && !hasErrors(diags)) {
    diags.push(noResourcesDiagnostic(sources))
  }
  const resources = group(all, diags)
  checkSemantics(resources, diags)
  const sourceHash = sha256Hex(sources.map((s) => `${s.display}\0${s.text}`).join('\0\0'))
  return {
    resources,
    diagnostics: sortDiagnostics(diags),
    sourceHash,
    files: sources.map((s) => s.display),
  }
}

/** Two GatewayConfig documents, whatever their names: an error naming where both are. */
function secondGatewayConfig(second: AnyResource, first: AnyResource): Diagnostic {
  const at = (r: AnyResource): string => `${r.origin.loc.file}:${r.origin.loc.line}`
  return {
    code: 'PC1701',
    severity: 'error',
    message: `only one GatewayConfig is allowed: this one at ${at(second)} and the first at ${at(first)}; merge their spec fields into one document`,
    resource: {
      kind: second.kind,
      namespace: second.metadata.namespace,
      name: second.metadata.name,
    },
    loc: second.origin.loc,
  }
}

function group(all: readonly AnyResource[], diags: Diagnostic[]): ResourceSet {
  // Later definitions of the same kind/namespace/name replace earlier ones; order is first seen.
  const seen = new Map<string, AnyResource>()
  const gateways: Gateway[] = []
  const virtualServices: VirtualService[] = []
  const destinationRules: DestinationRule[] = []
  const serviceEntries: ServiceEntry[] = []
  const sidecars: Sidecar[] = []
  const rateLimitPolicies: RateLimitPolicy[] = []
  const certificates: Certificate[] = []
  const issuers: Issuer[] = []
  const telemetries: Telemetry[] = []
  let gatewayConfig: GatewayConfig | undefined
  for (const r of all) {
    const key = `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`
    const prev = seen.get(key)
    if (prev !== undefined && r.kind === 'GatewayConfig') {
      // Replacing it would silently drop the first one's settings (its bindAddress, say).
      diags.push(secondGatewayConfig(r, prev))
      continue
    }
    if (prev !== undefined) {
      diags.push({
        code: 'PC1006',
        severity: 'warning',
        message: `${r.kind} ${r.metadata.namespace}/${r.metadata.name} is defined again; this definition replaces the one at ${prev.origin.loc.file}:${prev.origin.loc.line}, as kubectl apply would`,
        resource: { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name },
        path: 'metadata.name',
        loc: r.origin.locate(['metadata', 'name']),
      })
    }
    seen.set(key, r)
  }
  for (const r of seen.values()) {
    switch (r.kind) {
      case 'Gateway':
        gateways.push(r)
        break
      case 'VirtualService':
        virtualServices.push(r)
        break
      case 'DestinationRule':
        destinationRules.push(r)
        break
      case 'ServiceEntry':
        serviceEntries.push(r)
        break
      case 'Sidecar':
        sidecars.push(r)
        break
      case 'RateLimitPolicy':
        rateLimitPolicies.push(r)
        break
      case 'Certificate':
        certificates.push(r)
        break
      case 'Issuer':
      case 'ClusterIssuer':
        issuers.push(r)
        break
      case 'Telemetry':
        telemetries.push(r)
        break
      case 'GatewayConfig':
        if (gatewayConfig !== undefined) diags.push(secondGatewayConfig(r, gatewayConfig))
        else gatewayConfig = r
        break
    }
  }
  return {
    gateways,
    virtualServices,
    destinationRules,
    serviceEntries,
    sidecars,
    gatewayConfig,
    rateLimitPolicies,
    certificates,
    issuers,
    ...(telemetries.length > 0 ? { telemetries } : {}),
  }
}
export { issuerOf, solverFor } from './semantic/index.js'
