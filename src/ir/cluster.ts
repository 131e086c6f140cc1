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
  /** DestinationRule traffic policy; absent when no rule sets one (Istio's defaults apply). */
  readonly policy?: ClusterPolicy
  readonly source: SourceRef
}

/** Which key a consistent-hash balancer hashes (Istio ConsistentHashLB). */
export type HashKey =
  | { readonly kind: 'header'; readonly name: string }
  | {
      readonly kind: 'cookie'
      readonly name: string
      readonly path?: string
      /** When set, the gateway issues the cookie if the request has none (0: session cookie). */
      readonly ttlMs?: number
    }
  | { readonly kind: 'source-ip' }
  | { readonly kind: 'query'; readonly name: string }

export type LoadBalancer =
  | { readonly kind: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH' }
  | {
      readonly kind: 'CONSISTENT_HASH'
      readonly key: HashKey
      /** Ring entries (ringHash.minimumRingSize, default 1024; maglev uses its table size). */
      readonly ringSize: number
    }

/** DestinationRule connectionPool; absent fields mean Istio's effectively unlimited default. */
export interface ConnectionPoolPolicy {
  readonly maxConnections?: number
  readonly maxPendingRequests?: number
  readonly maxRequests?: number
  /** 0: unlimited; 1 disables keep-alive. */
  readonly maxRequestsPerConnection?: number
  readonly maxRetries?: number
  /** Idle upstream connections are closed after this long (default 1 h; 0 disables). */
  readonly idleTimeoutMs?: number
  readonly maxConnectionDurationMs?: number
  readonly tcpKeepalive?: {
    readonly timeMs?: number
    readonly intervalMs?: number
    readonly probes?: number
  }
  readonly h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE'
  readonly maxConcurrentStreams?: number
  /** HTTP/2 upstream only when the downstream request is HTTP/2 (overrides h2UpgradePolicy). */
  readonly useClientProtocol?: boolean
}

/** DestinationRule outlierDetection with Istio's defaults filled in (only present when set). */
export interface OutlierDetectionPolicy {
  /** 0 disables the detector. */
  readonly consecutive5xxErrors: number
  readonly consecutiveGatewayErrors: number
  readonly consecutiveLocalOriginFailures: number
  readonly splitExternalLocalOriginErrors: boolean
  readonly intervalMs: number
  readonly baseEjectionTimeMs: number
  readonly maxEjectionPercent: number
  readonly minHealthPercent: number
}

/**
 * DestinationRule tls (origination). DISABLE is represented by no policy at all. File paths are
 * resolved (against the rule's file, or the certs directory for credentialName); reading them is
 * the data plane's job.
 */
export interface UpstreamTlsPolicy {
  readonly mode: 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL'
  /**
   * ISTIO_MUTUAL: the files are the mesh identity (watched, so new connections use a rotated
   * one), the peer must have a `spiffe://<trustDomain>/` URI SAN, and ALPN is what an Istio
   * sidecar offers for the cluster's protocol.
   */
  readonly mesh?: { readonly trustDomain: string; readonly alpn: readonly string[] }
  /** The client certificate chain and its key (MUTUAL). */
  readonly certFile?: string
  readonly keyFile?: string
  /** CA bundle that verifies the upstream; absent: the default trust store. */
  readonly caFile?: string
  /** The CA came with a credential (`ca.crt`) and may be absent (then the default store). */
  readonly caOptional?: boolean
  readonly crlFile?: string
  /** The CRL came with a credential (`ca.crl`) and may be absent. */
  readonly crlOptional?: boolean
  /** The credential the files came from, for display. */
  readonly credentialName?: string
  /** Accepted upstream SANs; empty: the certificate must match the SNI. */
  readonly subjectAltNames: readonly string[]
  /** Defaults to the destination host. */
  readonly sni: string
  readonly insecureSkipVerify: boolean
}

/** The DestinationRule traffic policy in effect for one cluster, after Istio's merge rules. */
export interface ClusterPolicy {
  readonly loadBalancer?: LoadBalancer
  readonly connectionPool?: ConnectionPoolPolicy
  readonly outlierDetection?: OutlierDetectionPolicy
  readonly tls?: UpstreamTlsPolicy
}
