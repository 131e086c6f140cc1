import type { Resolution, ServiceProtocol } from './cluster.js'
import type { ListenerId } from './ids.js'
import type { RouteTable } from './route.js'
import type { SourceRef } from './source.js'

/** Istio MeshConfig/Sidecar outboundTrafficPolicy.mode. */
export type EgressMode = 'ALLOW_ANY' | 'REGISTRY_ONLY'

/** `audit`: REGISTRY_ONLY lets unknown destinations through but records each one. */
export type EgressEnforcement = 'enforce' | 'audit'

export interface EgressPort {
  readonly number: number
  readonly protocol: ServiceProtocol
  /** Where connections go; the port number unless the ServiceEntry sets targetPort. */
  readonly targetPort: number
  /**
   * STATIC entries: the endpoint addresses with the port each maps this port to. Tunnels and
   * direct forwards connect here instead of resolving the requested name.
   */
  readonly endpoints?: readonly EgressEndpoint[]
}

export interface EgressEndpoint {
  readonly address: string
  readonly port: number
}

/** One ServiceEntry as the allowlist sees it. */
export interface EgressService {
  /** `<namespace>/<name>`. */
  readonly name: string
  /** Lower-case names and `*.suffix` wildcards. */
  readonly hosts: readonly string[]
  readonly ports: readonly EgressPort[]
  /** IPs and CIDRs (`10.0.0.0/8`, `2001:db8::/32`) the entry admits as destinations. */
  readonly addresses: readonly string[]
  readonly resolution: Resolution
  /** STATIC endpoint addresses: connecting there is allowed even in a private range. */
  readonly endpointAddresses: readonly string[]
  readonly source: SourceRef
}

export interface EgressPolicy {
  readonly mode: EgressMode
  readonly enforcement: EgressEnforcement
  /**
   * false (the default): loopback, private, link-local and unique-local destinations are
   * refused unless a ServiceEntry lists the address (or it is a STATIC endpoint).
   */
  readonly allowPrivateAddresses: boolean
  /**
   * Sidecar `egress[].hosts`, namespace part dropped: when present, only names these patterns
   * cover may leave, whatever the registry says (`*` admits everything).
   */
  readonly scope?: readonly string[]
}

/** GatewayConfig.spec.outbound: the forward-proxy listener clients use as HTTP(S)_PROXY. */
export interface OutboundListener {
  readonly id: ListenerId
  readonly address: string
  readonly port: number
}

export interface Egress {
  readonly policy: EgressPolicy
  /** Every ServiceEntry, in file order. */
  readonly services: readonly EgressService[]
  /**
   * The first outbound listener (outbound.port, else the first of outbound.ports); its id names
   * the route tables every outbound listener shares (egressRouteTableId).
   */
  readonly outbound?: OutboundListener
  /**
   * Every outbound listener, `outbound` first, when outbound.ports gives more than one (absent
   * for one, so single-port snapshots keep their hash). Each is bound on its own port, and a Host
   * that names no port there names that port.
   */
  readonly outboundListeners?: readonly OutboundListener[]
  /**
   * GatewayConfig.spec.egress.sniPorts: TLS ports whose connections are admitted by SNI against
   * the registry alone and passed through, untouched, to the checked address.
   */
  readonly sniListeners?: readonly OutboundListener[]
  /**
   * egress.sniPortMappings: SNI listen port → the ServiceEntry port its names are admitted as
   * (keyed by the listen port as a decimal string). Ports absent here are their own.
   */
  readonly sniServicePorts?: Readonly<Record<string, number>>
  /**
   * Route tables the outbound listener serves plain HTTP from, one per destination port (as
   * Istio's sidecar `http.<port>` route configs): VirtualServices bound to `mesh` plus a default
   * route for every registered host on that port. Keyed by the port as a decimal string.
   */
  readonly routeTables: Readonly<Record<string, RouteTable>>
  /**
   * GatewayConfig.spec.egress.httpPorts: Gateway HTTP listeners whose requests no route serves
   * are decided by the allowlist (by Host and the listener port) instead of 404 NR.
   */
  readonly httpListeners?: readonly EgressHttpListener[]
  /** DNS servers (`ip` or `ip:port`) for egress names; the system's when empty. */
  readonly dnsServers: readonly string[]
  /** Mesh-bound `tls` and `tcp` routes, in file order; absent when there are none. */
  readonly meshL4Routes?: readonly MeshL4Route[]
  /**
   * The shorter names the outbound listener answers to (`reviews`, `reviews.default`,
   * `reviews.default.svc`) → the registered host they stand for, so the allowlist decides the
   * host a route table serves under that name. Absent when no name has an alternative.
   */
  readonly meshAliases?: Readonly<Record<string, string>>
  /**
   * Virtual-host names (`example.com:80`) of mesh VirtualService hosts no ServiceEntry backs:
   * served from the port-80 route table whatever the allowlist says, as Istio's sidecar does.
   */
  readonly unbackedHosts?: readonly string[]
}

/** A Gateway HTTP listener with Host egress: its default routes to registered hosts. */
export interface EgressHttpListener {
  /** The Gateway HTTP listener's id (bindAddress:port). */
  readonly id: ListenerId
  readonly port: number
  /** A default route for every registered host with endpoints on this port. */
  readonly routeTable: RouteTable
}

/** Every outbound listener of `egress` (none when it has no outbound side). */
export function outboundListenersOf(egress: Egress | undefined): readonly OutboundListener[] {
  if (egress?.outbound === undefined) return []
  return egress.outboundListeners ?? [egress.outbound]
}

/** The id the outbound listener's route table for one destination port is served under. */
export function egressRouteTableId(listener: ListenerId, port: number): ListenerId {
  return `${listener}/egress:${port}`
}

/**
 * A VirtualService `tls` or `tcp` route bound to `mesh`, as the outbound side applies it to
 * CONNECT tunnels and SNI egress connections (compile/mesh-l4-routes.ts): a connection whose
 * SNI (`tls`; for CONNECT, the target host) or VirtualService host (`tcp`) and port match goes
 * to one of the route's destinations instead of the name it asked for, e.g. an egress gateway.
 */
export interface MeshL4Route {
  /** `<namespace>/<virtualservice>/tls[<index>]` or `.../tcp[<index>]`. */
  readonly id: string
  readonly kind: 'tls' | 'tcp'
  /** The match's port; undefined matches every port. */
  readonly port: number | undefined
  /** `tls`: the match's sniHosts; `tcp`: the VirtualService's hosts. Lower case, `*.` wildcards. */
  readonly hosts: readonly string[]
  /** Destination host and port (undefined: the connection's port), weighted. */
  readonly destinations: readonly {
    readonly host: string
    readonly port: number | undefined
    readonly weight: number
  }[]
  readonly source: SourceRef
}
