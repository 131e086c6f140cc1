import type { ClusterId, ListenerId, RouteId } from './ids.js'
import type { RouteTable } from './route.js'
import type { SourceRef } from './source.js'

/** Istio Gateway server protocols, upper-cased. */
export type ServerProtocol =
  'HTTP' | 'HTTPS' | 'HTTP2' | 'GRPC' | 'GRPC-WEB' | 'TCP' | 'TLS' | 'MONGO'

/** A Gateway server as it contributed to a listener (for describe and config_dump). */
export interface ServerRef {
  readonly gateway: string // ns/name
  readonly name?: string
  readonly portName: string
  readonly protocol: ServerProtocol
  readonly hosts: readonly string[]
  readonly source: SourceRef
}

/**
 * Plain HTTP on a port: every HTTP server of every Gateway on that port shares one route table,
 * as in Istio (`http.<port>`).
 */
export interface HttpFilterChain {
  readonly kind: 'http'
  readonly routeTable: RouteTable
}

/** A weighted L4 destination: a whole connection goes to one of them. */
export interface L4Destination {
  readonly cluster: ClusterId
  readonly host: string
  readonly port: number
  readonly weight: number
}

/** A `tcp` route (or the destinations of a matched `tls` route). */
export interface L4Route {
  /** `<namespace>/<virtualservice>/tcp[<index>]` or `.../tls[<index>]`. */
  readonly id: RouteId
  readonly destinations: readonly L4Destination[]
  readonly totalWeight: number
  readonly source: SourceRef
}

/** A VirtualService `tls` route on a PASSTHROUGH server: chosen by the client's SNI. */
export interface SniRoute extends L4Route {
  /** Lower-case names, `*.suffix` wildcards and `*` allowed. */
  readonly sniHosts: readonly string[]
}

export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'

/** One certificate and its key, as file paths (already resolved against the certs directory). */
export interface CertificateFiles {
  readonly certFile: string
  readonly keyFile: string
}

/** How a terminating server verifies clients (MUTUAL, OPTIONAL_MUTUAL). */
export interface ClientValidation {
  /** false: OPTIONAL_MUTUAL, a client without a certificate is let in. */
  readonly required: boolean
  readonly caFile: string
  readonly crlFile?: string
  /** The CRL came with a credential (`ca.crl`) and may be absent. */
  readonly crlOptional?: boolean
  /** Accepted SAN values (`URI:`/`DNS:` prefix stripped); empty: any. */
  readonly subjectAltNames: readonly string[]
  /** base64 SHA-256 of the SubjectPublicKeyInfo. */
  readonly spkiSha256: readonly string[]
  /** lower-case hex SHA-256 of the DER certificate, no colons. */
  readonly certSha256: readonly string[]
}

/** Server TLS settings of one terminating server (Istio ServerTLSSettings). */
export interface ServerTlsSettings {
  /** ISTIO_MUTUAL: MUTUAL with the mesh identity's chain, key and root. */
  readonly mode: 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL' | 'ISTIO_MUTUAL'
  /** One or two (e.g. RSA + ECDSA); the client picks what it supports. */
  readonly certificates: readonly CertificateFiles[]
  readonly client?: ClientValidation
  readonly minVersion: TlsVersion
  readonly maxVersion: TlsVersion
  /** OpenSSL names of the TLS 1.2 suites, in preference order. */
  readonly cipherSuites: readonly string[]
}

/** What a chain does once the connection is assigned to it. */
export type ChainService =
  /** Terminate, then serve HTTP/1.1 and HTTP/2 (ALPN) from the route table. */
  | { readonly kind: 'http'; readonly routeTable: RouteTable }
  /** Terminate, then proxy the plaintext bytes (a `TLS` server with `tcp` routes). */
  | { readonly kind: 'tcp'; readonly route: L4Route | undefined }
  /** Do not terminate: pipe the bytes to the `tls` route that matches the SNI. */
  | { readonly kind: 'passthrough'; readonly routes: readonly SniRoute[] }

/**
 * One Gateway server on a TLS port, selected by the ClientHello's SNI against `sniHosts`
 * (exact > longest wildcard > `*`, as Envoy's filter chain match).
 */
export interface TlsFilterChain {
  readonly kind: 'tls'
  /** Unique within the listener: `<gateway ns/name>/<port name>`. */
  readonly name: string
  /** The server hosts (namespace part dropped), lower-case. */
  readonly sniHosts: readonly string[]
  /** undefined: PASSTHROUGH. */
  readonly tls: ServerTlsSettings | undefined
  readonly service: ChainService
}

/** A TCP port: the first `tcp` route bound to it takes every connection. */
export interface TcpFilterChain {
  readonly kind: 'tcp'
  readonly route: L4Route | undefined
}

export type FilterChain = HttpFilterChain | TlsFilterChain | TcpFilterChain

export interface Listener {
  readonly id: ListenerId
  readonly address: string
  readonly port: number
  /** What the port speaks at the socket: plain HTTP, TLS (SNI chains) or raw TCP. */
  readonly transport: 'http' | 'tls' | 'tcp'
  readonly servers: readonly ServerRef[]
  readonly chains: readonly FilterChain[]
}
