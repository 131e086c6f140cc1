import type { ClusterId } from './ids.js'
import type { SourceRef } from './source.js'

export type Resolution = 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE' | 'DYNAMIC_DNS'

/** ServiceEntry port protocols, upper-cased; UNSPECIFIED when neither protocol nor name says. */
export type ServiceProtocol =
  'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC' | 'GRPC-WEB' | 'TCP' | 'TLS' | 'MONGO' | 'UDP' | 'UNSPECIFIED'

export interface Endpoint {
  /** An IP (STATIC) or a DNS name to resolve (DNS, DNS_ROUND_ROBIN). */
  readonly address: string
  readonly port: number
  /** Relative LB weight (WorkloadEntry.weight, default 1). */
  readonly weight: number
  readonly labels: Readonly<Record<string, string>>
  readonly locality?: string
}

export interface Cluster {
  readonly id: ClusterId
  /** The ServiceEntry host this cluster serves. */
  readonly host: string
  /** The service port (ServiceEntry port number) the cluster is for. */
  readonly port: number
  readonly subset?: string
  readonly protocol: ServiceProtocol
  readonly resolution: Resolution
  /**
   * Endpoints after subset label selection. For DNS resolution without endpoints, one endpoint
   * per host name. For NONE, empty (the original destination is used).
   */
  readonly endpoints: readonly Endpoint[]
  /** Minimum DNS refresh when the answer's TTL is shorter (ms). */
  readonly dnsRefreshMs: number
  readonly connectTimeoutMs: number
  readonly source: SourceRef
}
