/**
 * From parsed files to the loaded config: each file is parsed and validated on its own
 * (`parseFile`, what the parse cache keeps), then `assemble` applies later-definition-wins and the
 * checks across resources. Cold loads and the parse cache both go through here.
 */
import { sha256Hex } from '../lib/index.js'
import { hasErrors, sortDiagnostics, type Diagnostic } from '../diag/index.js'
import { parseDocuments } from './documents.js'
import type { SourceFile } from './load.js'
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

export interface LoadResult {
  readonly resources: ResourceSet
  readonly diagnostics: readonly Diagnostic[]
  /** sha256 over the files' names and content digests: unchanged input ⇒ same hash. */
  readonly sourceHash: string
  readonly files: readonly string[]
}

/** One file parsed and validated on its own: what the parse cache keeps per file. */
export interface ParsedFile {
  readonly source: SourceFile
  /** sha256 of the text, for sourceHash and for telling an unchanged file after a write. */
  readonly digest: string
  readonly resources: readonly AnyResource[]
  /** The file's parse and schema diagnostics (not the cross-resource ones). */
  readonly diagnostics: readonly Diagnostic[]
}

/** `digest`: the text's sha256 when the caller already has it. */
export function parseFile(source: SourceFile, digest?: string): ParsedFile {
  const diagnostics: Diagnostic[] = []
  const resources: AnyResource[] = []
  for (const doc of parseDocuments(source, diagnostics)) {
    const r = validateDocument(doc, diagnostics)
    if (r !== undefined) resources.push(r)
  }
  return { source, digest: digest ?? sha256Hex(source.text), resources, diagnostics }
}

/**
 * The whole config from its files: later definitions replace earlier ones, then the checks across
 * resources. Cold loads and the parse cache both end here, so they cannot disagree.
 */
export function assemble(
  parsed: readonly ParsedFile[],
  readDiags: readonly Diagnostic[],
): LoadResult {
  const diags = [...readDiags]
  const all: AnyResource[] = []
  for (const f of parsed) {
    diags.push(...f.diagnostics)
    all.push(...f.resources)
  }
  // Files that could not be read or parsed already say why nothing was loaded.
  if (all.length === 0 && parsed.length > 0 && !hasErrors(diags)) {
    diags.push(noResourcesDiagnostic(parsed.map((f) => f.source)))
  }
  const resources = group(all, diags)
  checkSemantics(resources, diags)
  // Over each file's digest, not its bytes: a reload hashes only the files that changed.
  const sourceHash = sha256Hex(parsed.map((f) => `${f.source.display}\0${f.digest}`).join('\0\0'))
  return {
    resources,
    diagnostics: sortDiagnostics(diags),
    sourceHash,
    files: parsed.map((f) => f.source.display),
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
