import type { ListenerId } from './ids.js'
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

/** Room for the TLS issue: SNI-selected chains (terminated HTTPS, TLS+tcp routes, passthrough). */
export interface TlsFilterChain {
  readonly kind: 'tls'
  readonly serverName: string
  readonly sniHosts: readonly string[]
}

export type FilterChain = HttpFilterChain | TlsFilterChain

export interface Listener {
  readonly id: ListenerId
  readonly address: string
  readonly port: number
  /** What the port speaks at the socket: plain HTTP, TLS (SNI chains) or raw TCP. */
  readonly transport: 'http' | 'tls' | 'tcp'
  readonly servers: readonly ServerRef[]
  readonly chains: readonly FilterChain[]
}
