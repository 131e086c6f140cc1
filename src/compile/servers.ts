/**
 * Which Gateway servers this instance serves, grouped by port as Istio merges them: one port
 * carries either plain-HTTP servers (one shared route table) or TLS servers (SNI chains), never
 * both; a TCP port carries one server.
 */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'
import type { DiagSink } from './diagnostics.js'
import { parseServerHost, type ServerHost } from './names.js'
import { resourceKey } from './source-ref.js'

export interface GatewayServer {
  readonly gateway: istio.Gateway
  /** `ns/name` of the Gateway. */
  readonly gatewayKey: string
  readonly server: istio.Server
  /** Field path of the server: ['spec', 'servers', i]. */
  readonly path: istio.Path
  readonly protocol: ir.ServerProtocol
  readonly hosts: readonly ServerHost[]
  readonly httpsRedirect: boolean
}

/** The servers of one port, in file order (Gateways, then servers). */
export interface HttpPort {
  readonly port: number
  readonly servers: readonly GatewayServer[]
}

/** Ports by what they carry, each list sorted by port. */
export interface PortGroups {
  readonly http: HttpPort[]
  readonly tls: HttpPort[]
  readonly tcp: HttpPort[]
}

type PortKind = 'plain' | 'tls' | 'l4'

const HTTP_FAMILY: ReadonlySet<string> = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'])

/**
 * HTTP-family servers without a TLS mode are plain HTTP (served as HTTP/1.1 for now). A TLS mode
 * on them, HTTPS and TLS all need SNI chains; TCP and MONGO are raw L4 servers.
 */
function portKind(server: istio.Server): PortKind {
  const p = server.port.protocol
  if (HTTP_FAMILY.has(p)) return server.tls?.mode === undefined ? 'plain' : 'tls'
  if (p === 'HTTPS' || p === 'TLS') return 'tls'
  return 'l4'
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}}`
}

/**
 * Gateway.selector against this instance's labels (GatewayConfig spec.labels). Without labels
 * every Gateway applies, as the file is this instance's whole configuration.
 */
export function selectGateways(
  gateways: readonly istio.Gateway[],
  settings: ir.GatewaySettings,
  sink: DiagSink,
): istio.Gateway[] {
  const labels = settings.labels
  if (Object.keys(labels).length === 0) return [...gateways]
  return gateways.filter((gw) => {
    const selector = gw.spec.selector ?? {}
    const ok = Object.entries(selector).every(([k, v]) => labels[k] === v)
    if (!ok) {
      sink.report(
        'PC2006',
        gw,
        ['spec', 'selector'],
        `selector ${formatLabels(selector)} does not match this instance's labels ${formatLabels(labels)} (GatewayConfig spec.labels), so this Gateway is not served`,
      )
    }
    return ok
  })
}

function reservedPorts(settings: ir.GatewaySettings): [number, string][] {
  const out: [number, string][] = []
  if (settings.admin.port !== 0) out.push([settings.admin.port, 'admin port (spec.admin.port)'])
  if (settings.readiness.port !== 0) {
    out.push([settings.readiness.port, 'readiness port (spec.readiness.port)'])
  }
  if (settings.metrics.port !== 0) {
    out.push([settings.metrics.port, 'metrics port (spec.metrics.port)'])
  }
  return out
}

interface FirstOnPort {
  readonly kind: PortKind
  /** `Gateway ns/name spec.servers[i]`, for messages. */
  readonly where: string
}

function reportPortConflict(
  sink: DiagSink,
  gw: istio.Gateway,
  path: istio.Path,
  port: number,
  first: FirstOnPort,
  kind: PortKind,
): void {
  const where = [...path, 'port', 'protocol']
  if (first.kind !== 'l4' && kind !== 'l4') {
    const carries = first.kind === 'plain' ? 'plain HTTP' : 'TLS'
    sink.report(
      'PC1304',
      gw,
      where,
      `port ${port} already carries ${carries} servers (first: ${first.where}); one port serves either plain HTTP or TLS, so this server is left out`,
    )
    return
  }
  const why =
    first.kind === 'l4' && kind === 'l4'
      ? 'a TCP port carries one server'
      : 'a port cannot mix TCP servers with HTTP or TLS servers'
  sink.report(
    'PC3003',
    gw,
    where,
    `port ${port} is already used by ${first.where}; ${why}, so this server is left out`,
  )
}

/**
 * Walks the servers of the selected Gateways in file order, reports conflicts, and returns the
 * servers grouped by port and kind (sorted by port). The first server on a port decides what
 * the port carries; later servers that do not fit are reported and left out, as Istio does when
 * it merges Gateways.
 */
export function collectPorts(
  gateways: readonly istio.Gateway[],
  settings: ir.GatewaySettings,
  sink: DiagSink,
): PortGroups {
  const reserved = reservedPorts(settings)
  const firstOnPort = new Map<number, FirstOnPort>()
  const byKind: Record<PortKind, Map<number, GatewayServer[]>> = {
    plain: new Map(),
    tls: new Map(),
    l4: new Map(),
  }
  for (const gw of gateways) {
    const gatewayKey = resourceKey(gw)
    const portNames = new Map<string, number>()
    gw.spec.servers.forEach((server, i) => {
      const path = ['spec', 'servers', i]
      const { number, name } = server.port
      const prevName = portNames.get(name)
      if (prevName !== undefined) {
        sink.report(
          'PC1301',
          gw,
          [...path, 'port', 'name'],
          `port name "${name}" is already used by spec.servers[${prevName}]; port names must be unique within a Gateway`,
        )
      } else portNames.set(name, i)
      for (const [port, what] of reserved) {
        if (port === number) {
          sink.report(
            'PC1702',
            gw,
            [...path, 'port', 'number'],
            `port ${number} is also the GatewayConfig ${what}; give one of them another port`,
          )
        }
      }
      const kind = portKind(server)
      const first = firstOnPort.get(number)
      if (first === undefined) {
        firstOnPort.set(number, { kind, where: `Gateway ${gatewayKey} spec.servers[${i}]` })
      } else if (first.kind !== kind || kind === 'l4') {
        reportPortConflict(sink, gw, path, number, first, kind)
        return
      }
      const entry: GatewayServer = {
        gateway: gw,
        gatewayKey,
        server,
        path,
        protocol: server.port.protocol,
        hosts: server.hosts.map((h) => parseServerHost(h, gw.metadata.namespace)),
        httpsRedirect: server.tls?.httpsRedirect === true,
      }
      const group = byKind[kind]
      const list = group.get(number)
      if (list === undefined) group.set(number, [entry])
      else list.push(entry)
    })
  }
  const sorted = (m: Map<number, GatewayServer[]>): HttpPort[] =>
    [...m.entries()].sort(([a], [b]) => a - b).map(([port, servers]) => ({ port, servers }))
  return { http: sorted(byKind.plain), tls: sorted(byKind.tls), tcp: sorted(byKind.l4) }
}
