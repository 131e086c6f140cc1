/** Process-wide settings from the GatewayConfig document, with every default filled in. */

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
  readonly maxRequestsPerConnection: number
  /** What to do with header names containing `_`: REJECT (400), DROP or ALLOW. */
  readonly headersWithUnderscores: 'REJECT' | 'DROP' | 'ALLOW'
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
  /** Adds `server: istio-envoy` to responses, as Istio gateways do. */
  readonly serverHeader: string | undefined
  /** Labels of this instance, matched against Gateway.selector. */
  readonly labels: Readonly<Record<string, string>>
}
