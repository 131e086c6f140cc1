/** Process-wide settings from the GatewayConfig document, with every default filled in. */
import type { PathNormalization } from '../lib/index.js'

export interface EndpointSetting {
  readonly address: string
  /** 0 disables the server. */
  readonly port: number
}

export interface AccessLogSettings {
  readonly disabled: boolean
  readonly path: string
  /** Envoy command-operator format; the Istio default when unset in the config. */
  readonly format: string
  readonly encoding: 'TEXT' | 'JSON'
}

/** Downstream protections (hardening.md §1.3). */
export interface DownstreamLimits {
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxHeaderBytes: number
  readonly maxHeaderCount: number
  /** Longest request target (request line or `:path`) accepted; 414 above it. */
  readonly maxUriBytes: number
  readonly maxRequestsPerConnection: number
  /** What to do with header names containing `_`: REJECT (400), DROP or ALLOW. */
  readonly headersWithUnderscores: 'REJECT' | 'DROP' | 'ALLOW'
  /** Open connections per listener (this process); absent: no cap. */
  readonly maxConnections?: number
  /** Open connections per listener and client IP (this process); absent: no cap. */
  readonly maxConnectionsPerClient?: number
  /** A request with no bytes either way for this long ends (Envoy stream_idle_timeout); 0: off. */
  readonly streamIdleTimeoutMs: number
  /** Least request body bytes per second while the gateway reads the body; 0: off. */
  readonly minRequestBodyRate: number
  /** The time over which minRequestBodyRate is measured. */
  readonly minRequestBodyRateWindowMs: number
  /** Downstream PROXY protocol (gatewayTopology.proxyProtocol); absent: off. */
  readonly proxyProtocol?: ProxyProtocolSettings
}

/**
 * PROXY protocol v1/v2 read at accept, before TLS. From a trusted source the header is required
 * and its source address is the client's from then on; other sources are served as direct
 * clients (a header they send is not honoured).
 */
export interface ProxyProtocolSettings {
  /** CIDRs (or single addresses) whose connections must start with a header. */
  readonly trustedCidrs: readonly string[]
  /** Listener ports that read it; absent: every listener. */
  readonly ports?: readonly number[]
  /** Time a trusted connection has to send its whole header. */
  readonly headerTimeoutMs: number
}

/**
 * Redis for shared limits, as configured (secrets stay in files; the composition root reads
 * them when it builds the store). Read at startup: a change takes effect on restart.
 */
export interface RedisStoreSettings {
  readonly url?: string
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[]
  readonly name?: string
  readonly cluster?: readonly { readonly host: string; readonly port: number }[]
  readonly username?: string
  readonly passwordFile?: string
  readonly tls?: {
    readonly caFile?: string
    readonly certFile?: string
    readonly keyFile?: string
    readonly servername?: string
  }
  readonly keyPrefix?: string
  readonly commandTimeoutMs?: number
  readonly connectTimeoutMs?: number
  /** Replicas sharing the limits; a fail-open replica admits ceil(limit / this) alone. */
  readonly expectedReplicas?: number
  /** How long a crashed replica's connection-pool slots stay taken (leases, renewed at a third). */
  readonly leaseTtlMs?: number
  /** ACME state shared through this Redis (docs/acme.md). */
  readonly acme?: {
    /** 32 bytes (base64 or hex) that seal private keys stored in Redis. */
    readonly encryptionKeyFile?: string
    /** How long an order lock outlives a replica that died holding it. */
    readonly lockTtlMs?: number
  }
}

/**
 * Istio ProxyConfig gatewayTopology.forwardClientCertDetails (Envoy's forward_client_cert_details):
 * what happens to the client's x-forwarded-client-cert. Only a connection on which the client
 * presented a verified certificate can FORWARD_ONLY, APPEND_FORWARD or SANITIZE_SET; every other
 * request has the header removed, except with ALWAYS_FORWARD_ONLY.
 */
export type ForwardClientCertDetails =
  'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY'

/**
 * The overload guard (in the spirit of Envoy's overload manager): while the event loop lags
 * beyond the bound, new requests are shed with 503 OM and readiness is 503.
 */
export interface OverloadSettings {
  /** Event-loop delay that counts as overloaded; 0 turns the guard off. */
  readonly maxEventLoopDelayMs: number
  /** Requests in progress (per process) at which the next one is shed; 0: no cap. */
  readonly maxActiveRequests: number
  /** Whole seconds sent in `Retry-After` on a shed request. */
  readonly retryAfterSeconds: number
}

export interface GatewaySettings {
  readonly bindAddress: string
  readonly admin: EndpointSetting
  readonly readiness: EndpointSetting
  readonly metrics: EndpointSetting
  readonly accessLog: AccessLogSettings
  readonly drainTimeoutMs: number
  readonly downstream: DownstreamLimits
  /** Number of trusted proxies in front (Istio gatewayTopology.numTrustedProxies). */
  readonly numTrustedProxies: number
  /** x-forwarded-client-cert handling (Istio gatewayTopology.forwardClientCertDetails). */
  readonly forwardClientCertDetails: ForwardClientCertDetails
  /** Adds `server: istio-envoy` to responses, as Istio gateways do. */
  readonly serverHeader: string | undefined
  /** Labels of this instance, matched against Gateway.selector. */
  readonly labels: Readonly<Record<string, string>>
  /** Istio's meshConfig.pathNormalization, applied to every request before routing. */
  readonly pathNormalization: PathNormalization
  /** Shared limits through Redis; absent: limits in this process's memory. */
  readonly redis?: RedisStoreSettings
  /** Cluster worker processes (`auto`: one per available CPU); absent or 1: one process. */
  readonly workers?: number | 'auto'
  /** Always set by the compiler; absent (hand-built snapshots) means no guard. */
  readonly overload?: OverloadSettings
}
