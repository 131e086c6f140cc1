/**
 * Turns parsed YAML documents into validated resources. Each document is checked on its own
 * (shape, apiVersion/kind, metadata, the kind's schema); cross-resource checks live in
 * semantic/. Every problem becomes a Diagnostic with file:line:col and field path.
 */
import { CODES, formatPath, type Diagnostic, type ResourceRef } from '../diag/index.js'
import type { ParsedDoc } from './documents.js'
import {
  certificateSpec,
  destinationRuleSpec,
  gatewayConfigSpec,
  gatewaySpec,
  INVALID,
  issuerSpec,
  rateLimitPolicySpec,
  serviceEntrySpec,
  sidecarSpec,
  telemetrySpec,
  virtualServiceSpec,
  type AnySchema,
  type Issue,
  type Path,
} from './schema/index.js'
import type { AnyResource, Metadata, Origin } from './types.js'

const ISTIO_GROUP = 'networking.istio.io'
const ISTIO_VERSIONS = ['v1alpha3', 'v1beta1', 'v1']
const OWN_API = 'portcullis.io/v1alpha1'

const ISTIO_KINDS: Readonly<Record<string, AnySchema>> = {
  Gateway: gatewaySpec,
  VirtualService: virtualServiceSpec,
  DestinationRule: destinationRuleSpec,
  ServiceEntry: serviceEntrySpec,
  Sidecar: sidecarSpec,
}
const OWN_KINDS: Readonly<Record<string, AnySchema>> = {
  GatewayConfig: gatewayConfigSpec,
  RateLimitPolicy: rateLimitPolicySpec,
}
const CERT_MANAGER_API = 'cert-manager.io/v1'
const CERT_MANAGER_KINDS: Readonly<Record<string, AnySchema>> = {
  Certificate: certificateSpec,
  Issuer: issuerSpec,
  ClusterIssuer: issuerSpec,
}
const TELEMETRY_GROUP = 'telemetry.istio.io'
const TELEMETRY_VERSIONS = ['v1alpha1', 'v1']
const TELEMETRY_KINDS: Readonly<Record<string, AnySchema>> = { Telemetry: telemetrySpec }
const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status'])
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

function originOf(p: ParsedDoc): Origin {
  const positions = p.positions()
  return {
    file: p.file.display,
    docIndex: p.index,
    loc: positions.locate([]),
    locate: (path: Path) => positions.locate(path),
  }
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = String(x)
  }
  return out
}

/** Validates one document. Returns the resource, or undefined when it has errors. */
export function validateDocument(p: ParsedDoc, diags: Diagnostic[]): AnyResource | undefined {
  const value = p.value
  if (value === null || value === undefined) return undefined // empty document (e.g. trailing ---)
  const at = (path: Path, atKey = false) => p.locate(path, atKey)
  if (typeof value !== 'object' || Array.isArray(value)) {
    diags.push({
      code: 'PC1003',
      severity: 'error',
      message: 'expected a mapping with apiVersion, kind, metadata and spec',
      loc: at([]),
    })
    return undefined
  }
  const obj = value as Record<string, unknown>
  const apiVersion = obj['apiVersion']
  const kind = obj['kind']
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    diags.push({
      code: 'PC1003',
      severity: 'error',
      message: 'apiVersion and kind are required strings',
      loc: at([]),
    })
    return undefined
  }
  let schema: AnySchema | undefined
  const slash = apiVersion.indexOf('/')
  const group = apiVersion.slice(0, slash)
  const version = apiVersion.slice(slash + 1)
  if (group === ISTIO_GROUP && ISTIO_VERSIONS.includes(version)) schema = ISTIO_KINDS[kind]
  else if (apiVersion === OWN_API) schema = OWN_KINDS[kind]
  else if (apiVersion === CERT_MANAGER_API) schema = CERT_MANAGER_KINDS[kind]
  else if (group === TELEMETRY_GROUP && TELEMETRY_VERSIONS.includes(version))
    schema = TELEMETRY_KINDS[kind]
  if (schema === undefined) {
    diags.push({
      code: 'PC1004',
      severity: 'error',
      message: `unsupported ${apiVersion} ${kind}: expected ${ISTIO_GROUP}/{${ISTIO_VERSIONS.join(',')}} Gateway, VirtualService, DestinationRule, ServiceEntry or Sidecar, ${OWN_API} GatewayConfig or RateLimitPolicy, or ${CERT_MANAGER_API} Certificate, Issuer or ClusterIssuer, or ${TELEMETRY_GROUP}/v1 Telemetry`,
      loc: at(['kind']),
    })
    return undefined
  }
  const md = obj['metadata']
  const mdObj =
    md !== null && typeof md === 'object' && !Array.isArray(md)
      ? (md as Record<string, unknown>)
      : {}
  const name = mdObj['name']
  const namespace = mdObj['namespace'] ?? 'default'
  const ref: ResourceRef = {
    kind,
    namespace: typeof namespace === 'string' ? namespace : 'default',
    name: typeof name === 'string' ? name : '<unnamed>',
  }
  let ok = true
  const push = (d: Omit<Diagnostic, 'resource'>) => {
    diags.push({ ...d, resource: ref })
    if (d.severity === 'error') ok = false
  }
  for (const key of Object.keys(obj)) {
    if (!TOP_LEVEL.has(key)) {
      push({
        code: 'PC1101',
        severity: 'error',
        message: `unknown top-level field "${key}"`,
        path: key,
        loc: at([key], true),
      })
    }
  }
  if (typeof name !== 'string' || !DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    push({
      code: 'PC1005',
      severity: 'error',
      message:
        typeof name === 'string'
          ? `"${name}" is not a valid name (lower-case letters, digits, '-' and '.')`
          : 'metadata.name is required',
      path: 'metadata.name',
      loc: at(['metadata', 'name']),
    })
  }
  if (typeof namespace !== 'string' || !DNS1123_LABEL.test(namespace)) {
    push({
      code: 'PC1005',
      severity: 'error',
      message: `${JSON.stringify(namespace)} is not a valid namespace`,
      path: 'metadata.namespace',
      loc: at(['metadata', 'namespace']),
    })
  }
  const issues: Issue[] = []
  const spec: unknown = schema.parse(obj['spec'] ?? {}, { issues }, ['spec'])
  for (const i of issues) {
    const severity = i.severity ?? codeSeverity(i.code)
    push({
      code: i.code,
      severity,
      message: i.message,
      path: formatPath(i.path),
      loc: at(i.path, i.atKey === true),
    })
  }
  if (!ok || spec === INVALID) return undefined
  const metadata: Metadata = {
    name: ref.name,
    namespace: ref.namespace,
    labels: stringMap(mdObj['labels']),
    annotations: stringMap(mdObj['annotations']),
  }
  return { apiVersion, kind, metadata, spec, origin: originOf(p) } as AnyResource
}

function codeSeverity(code: keyof typeof CODES): 'error' | 'warning' {
  return CODES[code].severity
}
