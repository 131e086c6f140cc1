/** The validated input model: Istio resources with Istio's field names, plus where they came from. */
import type { Loc } from '../diag/index.js'
import type {
  CertificateSpec,
  DestinationRuleSpec,
  GatewayConfigSpec,
  GatewaySpec,
  IssuerSpec,
  Path,
  RateLimitPolicySpec,
  RedisSettingsSpec,
  ServiceEntrySpec,
  SidecarSpec,
  TelemetrySpec,
  VirtualServiceSpec,
} from './schema/index.js'

export type {
  CertificateSpec,
  IssuerSpec,
  DestinationRuleSpec,
  GatewayConfigSpec,
  GatewaySpec,
  RateLimitPolicySpec,
  RedisSettingsSpec,
  ServiceEntrySpec,
  SidecarSpec,
  TelemetrySpec,
  VirtualServiceSpec,
  Path,
}
export type {
  Destination,
  Headers,
  HTTPMatchRequest,
  HTTPRoute,
  Server,
  StringMatch,
  WorkloadEntrySpec,
} from './schema/index.js'

export interface Metadata {
  readonly name: string
  /** `default` when the document does not say. */
  readonly namespace: string
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
}

/** Where a resource was read from; `locate` maps a field path to a position. */
export interface Origin {
  readonly file: string
  /** 0-based index of the document in its file. */
  readonly docIndex: number
  readonly loc: Loc
  /** Position of the field at `path` (e.g. ['spec','http',0]), or the nearest parent that exists. */
  locate(path: Path): Loc
}

export interface Resource<K extends string, S> {
  readonly apiVersion: string
  readonly kind: K
  readonly metadata: Metadata
  readonly spec: S
  readonly origin: Origin
}

export type Gateway = Resource<'Gateway', GatewaySpec>
export type VirtualService = Resource<'VirtualService', VirtualServiceSpec>
export type DestinationRule = Resource<'DestinationRule', DestinationRuleSpec>
export type ServiceEntry = Resource<'ServiceEntry', ServiceEntrySpec>
export type Sidecar = Resource<'Sidecar', SidecarSpec>
export type GatewayConfig = Resource<'GatewayConfig', GatewayConfigSpec>
export type RateLimitPolicy = Resource<'RateLimitPolicy', RateLimitPolicySpec>
export type Certificate = Resource<'Certificate', CertificateSpec>
export type Issuer = Resource<'Issuer' | 'ClusterIssuer', IssuerSpec>
export type Telemetry = Resource<'Telemetry', TelemetrySpec>

export type AnyResource =
  | Gateway
  | VirtualService
  | DestinationRule
  | ServiceEntry
  | Sidecar
  | GatewayConfig
  | RateLimitPolicy
  | Certificate
  | Issuer
  | Telemetry

/** Everything one load produced, in file order. */
export interface ResourceSet {
  readonly gateways: readonly Gateway[]
  readonly virtualServices: readonly VirtualService[]
  readonly destinationRules: readonly DestinationRule[]
  readonly serviceEntries: readonly ServiceEntry[]
  readonly sidecars: readonly Sidecar[]
  readonly gatewayConfig: GatewayConfig | undefined
  readonly rateLimitPolicies: readonly RateLimitPolicy[]
  /** cert-manager.io/v1 Certificates, in file order. */
  readonly certificates: readonly Certificate[]
  /** cert-manager.io/v1 Issuers and ClusterIssuers, in file order. */
  readonly issuers: readonly Issuer[]
  /** telemetry.istio.io Telemetry resources, in file order (absent: none). */
  readonly telemetries?: readonly Telemetry[]
}
