/**
 * `describe`: which listener, server, VirtualService, route and destination a described request
 * reaches, and why every earlier candidate did not take it. It walks the snapshot the way the data
 * plane does (listener by port, TLS chain by SNI, the same path normalization, Host without its
 * port, the same virtual-host and route matchers through explainRequest) but allocates freely:
 * it serves `portcullis describe` and the admin API, never traffic.
 */
import type * as ir from '../ir/index.js'
import { authorityPort, hostCovers, normalizeHost, normalizePath } from '../lib/index.js'
import { compileRouteTable } from './compile.js'
import { compileEgressMatcher, decideEgress } from './egress.js'
import { explainRequest, type RequestExplanation } from './explain.js'
import type { MatchRequest } from './request.js'

/** A request as a user describes it (CLI flags, admin query parameters). */
export interface DescribeInput {
  readonly method: string
  /** The Host/:authority as sent, port included when sent (`reviews:9080`). */
  readonly authority: string
  /** The request target as sent: path and query. */
  readonly target: string
  /** The gateway port the client connects to. */
  readonly port: number
  /** The TLS server name; undefined: none sent (or plain HTTP). */
  readonly sni?: string
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  readonly sourceIp?: string
}

export interface CandidateNote {
  readonly name: string
  readonly selected: boolean
  readonly reason: string
}

export interface DestinationNote {
  readonly cluster: string
  readonly host: string
  readonly subset: string | undefined
  readonly port: number
  readonly weight: number
  /** Endpoints as `address:port`; undefined when the cluster does not exist (503 NC). */
  readonly endpoints: readonly string[] | undefined
}

export interface RequestDescription {
  readonly input: DescribeInput
  /** The path routing sees after GatewayConfig pathNormalization; undefined when refused. */
  readonly path: string | undefined
  readonly normalization: ir.GatewaySettings['pathNormalization']
  readonly listener: string | undefined
  /** TLS listeners: the filter chains, by SNI. */
  readonly chains: readonly CandidateNote[]
  /** The Gateway servers on the port and whether their hosts cover the request's host. */
  readonly servers: readonly CandidateNote[]
  readonly routing: RequestExplanation | undefined
  readonly virtualService: string | undefined
  readonly route: string | undefined
  readonly destinations: readonly DestinationNote[]
  /** What the gateway answers: `forward`, or the local reply's status and response flag. */
  readonly outcome: { readonly status: number | 'forward'; readonly flag?: string }
  readonly summary: string
}

/** Describes `input` against `snapshot`; pure, the same answer the data plane would give. */
export function describeRequest(snapshot: ir.Snapshot, input: DescribeInput): RequestDescription {
  const normalization = snapshot.settings.pathNormalization
  const base = {
    input,
    normalization,
    path: undefined,
    listener: undefined,
    chains: [],
    servers: [],
    routing: undefined,
    virtualService: undefined,
    route: undefined,
    destinations: [],
  }
  const listener = snapshot.listeners.find((l) => l.port === input.port)
  if (listener === undefined) {
    const ports = snapshot.listeners.map((l) => l.port).join(', ')
    return {
      ...base,
      outcome: { status: 0 },
      summary: `connection refused: no listener on port ${input.port} (listening: ${ports || 'none'})`,
    }
  }
  const at = { ...base, listener: listener.id }
  const host = normalizeHost(input.authority) ?? ''

  let table: ir.RouteTable | undefined
  let chains: CandidateNote[] = []
  let covered: readonly string[] | undefined
  if (listener.transport === 'tls') {
    const picked = selectChain(listener, input.sni)
    chains = listener.chains.flatMap((c) =>
      c.kind === 'tls' ? [chainNote(c, c === picked?.chain, input.sni, picked)] : [],
    )
    if (picked === undefined) {
      return {
        ...at,
        chains,
        outcome: { status: 0 },
        summary: `TLS handshake refused: no server on port ${input.port} accepts SNI ${show(input.sni)}`,
      }
    }
    const service = picked.chain.service
    if (service.kind !== 'http') {
      return { ...at, chains, ...describeL4(snapshot, service, input.sni) }
    }
    table = service.routeTable
    covered = picked.chain.sniHosts
  } else if (listener.transport === 'tcp') {
    const chain = listener.chains.find((c) => c.kind === 'tcp')
    return { ...at, ...describeL4(snapshot, { kind: 'tcp', route: chain?.route }, undefined) }
  } else {
    const chain = listener.chains.find((c) => c.kind === 'http')
    table = chain?.routeTable
  }
  const servers = listener.servers.map((s) => serverNote(s, host))
  const withServers = { ...at, chains, servers }

  // The listener's checks before routing: path normalization (400), then the TLS server's hosts.
  const normalized = normalizeTarget(input.target, normalization)
  if ('refused' in normalized) {
    return {
      ...withServers,
      outcome: { status: 400 },
      summary: `400: the path is refused by ${normalization} path normalization (${normalized.refused})`,
    }
  }
  const [path, query] = splitTarget(normalized.target)
  const withPath = { ...withServers, path }
  if (covered !== undefined && host !== '' && !covered.some((p) => hostCovers(p, host))) {
    return {
      ...withPath,
      outcome: { status: 421 },
      summary: `421 misdirected: host "${host}" is not a host of the server SNI ${show(input.sni)} chose (${covered.join(', ')})`,
    }
  }
  if (table === undefined) {
    return { ...withPath, outcome: { status: 404, flag: 'NR' }, summary: '404 NR: no route table' }
  }
  const scheme = listener.transport === 'tls' ? 'https' : 'http'
  const req = matchRequest(input, path, query, scheme)
  const routing = explainRequest(compileRouteTable(table), req)
  const withRouting = { ...withPath, routing }
  const egress = snapshot.egress?.httpListeners?.some((l) => l.id === listener.id) === true
  if (routing.selectedVirtualHost === undefined) {
    // egress.httpPorts: the data plane asks the allowlist with the Host and its port (the
    // listener's when the Host has none), as it does in egress/outbound-proxy.ts serveHost.
    if (egress && snapshot.egress !== undefined) {
      const target = authorityPort(input.authority) ?? input.port
      const decision = decideEgress(compileEgressMatcher(snapshot.egress), host, target)
      if (decision.verdict === 'denied') {
        return {
          ...withRouting,
          outcome: { status: 502, flag: 'EG' },
          summary: `502 EG: egress denied: ${decision.reason ?? 'denied'} (${host}:${target}); no VirtualService serves the host on this port`,
        }
      }
    }
    const why = egress
      ? `; the egress allowlist decides hosts no VirtualService serves on this port`
      : ''
    return {
      ...withRouting,
      outcome: { status: 404, flag: 'NR' },
      summary: `${routing.summary}${why}`,
    }
  }
  const vhost = table.virtualHosts.find((v) => v.name === routing.selectedVirtualHost)
  if (vhost?.requireTls === true) {
    return {
      ...withRouting,
      outcome: { status: 301 },
      summary: `301 to https: the server on port ${input.port} sets tls.httpsRedirect`,
    }
  }
  const match = routing.match
  if (match === undefined) {
    return { ...withRouting, outcome: { status: 404, flag: 'NR' }, summary: routing.summary }
  }
  const route = match.route
  const found = {
    ...withRouting,
    virtualService: `${route.source.namespace}/${route.source.name}`,
    route: route.id,
  }
  const action = route.action
  if (action.kind === 'redirect') {
    return {
      ...found,
      outcome: { status: action.status },
      summary: `${action.status} redirect by route ${route.id}`,
    }
  }
  if (action.kind === 'direct') {
    return {
      ...found,
      outcome: { status: action.status },
      summary: `${action.status} direct response by route ${route.id}`,
    }
  }
  const destinations = action.destinations.map((d) => destinationNote(snapshot, d))
  return { ...found, destinations, ...forwardOutcome(route.id, destinations) }
}

function forwardOutcome(
  routeId: string,
  destinations: readonly DestinationNote[],
): Pick<RequestDescription, 'outcome' | 'summary'> {
  if (destinations.length === 0) {
    return {
      outcome: { status: 503, flag: 'NC' },
      summary: `503 NC: route ${routeId} has no destination`,
    }
  }
  const missing = destinations.filter((d) => d.endpoints === undefined)
  if (missing.length === destinations.length) {
    return {
      outcome: { status: 503, flag: 'NC' },
      summary: `503 NC: cluster ${missing.map((d) => d.cluster).join(', ')} does not exist (no ServiceEntry for the host, or no such subset)`,
    }
  }
  const empty = destinations.filter((d) => d.endpoints !== undefined && d.endpoints.length === 0)
  if (empty.length === destinations.length) {
    return {
      outcome: { status: 503, flag: 'UH' },
      summary: `503 UH: cluster ${empty.map((d) => d.cluster).join(', ')} has no endpoints`,
    }
  }
  const list = destinations.map((d) => `${d.cluster} (weight ${d.weight})`).join(', ')
  const partial =
    missing.length + empty.length > 0
      ? `; requests picked for ${[...missing, ...empty].map((d) => d.cluster).join(', ')} get 503`
      : ''
  return {
    outcome: { status: 'forward' },
    summary: `forwarded by route ${routeId} to ${list}${partial}`,
  }
}

function destinationNote(snapshot: ir.Snapshot, d: ir.RouteDestination): DestinationNote {
  const cluster = snapshot.clusters[d.cluster]
  return {
    cluster: d.cluster,
    host: d.host,
    subset: d.subset,
    port: d.port,
    weight: d.weight,
    endpoints: cluster?.endpoints.map((e) => `${e.address}:${e.port}`),
  }
}

function describeL4(
  snapshot: ir.Snapshot,
  service: Exclude<ir.ChainService, { kind: 'http' }>,
  sni: string | undefined,
): Pick<RequestDescription, 'route' | 'destinations' | 'outcome' | 'summary'> {
  let route: ir.L4Route | undefined
  if (service.kind === 'passthrough') {
    route = service.routes.find((r) => r.sniHosts.some((h) => hostCovers(h, sni ?? '')))
    if (route === undefined) {
      return {
        route: undefined,
        destinations: [],
        outcome: { status: 0 },
        summary: `connection closed: no tls route of the PASSTHROUGH server has sniHosts covering ${show(sni)}`,
      }
    }
  } else route = service.route
  if (route === undefined) {
    return {
      route: undefined,
      destinations: [],
      outcome: { status: 0 },
      summary: 'connection closed: no tcp route is bound to this server',
    }
  }
  const destinations = route.destinations.map((d) => {
    const cluster = snapshot.clusters[d.cluster]
    return {
      cluster: d.cluster,
      host: d.host,
      subset: undefined,
      port: d.port,
      weight: d.weight,
      endpoints: cluster?.endpoints.map((e) => `${e.address}:${e.port}`),
    }
  })
  const list = destinations.map((d) => `${d.cluster} (weight ${d.weight})`).join(', ')
  return {
    route: route.id,
    destinations,
    outcome: { status: 'forward' },
    summary: `connection proxied by ${route.id} to ${list}`,
  }
}

interface PickedChain {
  readonly chain: ir.TlsFilterChain
  readonly by: string
}

/** Envoy's filter chain match on SNI: exact, then the longest wildcard suffix, then `*`. */
function selectChain(listener: ir.Listener, sni: string | undefined): PickedChain | undefined {
  const chains = listener.chains.filter((c): c is ir.TlsFilterChain => c.kind === 'tls')
  const name = sni === undefined || sni === '' ? undefined : sni.replace(/\.$/, '').toLowerCase()
  if (name !== undefined) {
    for (const c of chains)
      if (c.sniHosts.includes(name)) return { chain: c, by: `exact "${name}"` }
    for (let i = name.indexOf('.'); i > 0; i = name.indexOf('.', i + 1)) {
      const wildcard = `*${name.slice(i)}`
      for (const c of chains) if (c.sniHosts.includes(wildcard)) return { chain: c, by: wildcard }
    }
  }
  for (const c of chains) if (c.sniHosts.includes('*')) return { chain: c, by: '"*"' }
  return undefined
}

function chainNote(
  chain: ir.TlsFilterChain,
  selected: boolean,
  sni: string | undefined,
  picked: PickedChain | undefined,
): CandidateNote {
  const mode = chain.tls?.mode ?? 'PASSTHROUGH'
  const name = `${chain.name} (${mode}, sni ${chain.sniHosts.join(', ')})`
  if (selected) return { name, selected, reason: `SNI ${show(sni)} matches ${picked?.by ?? ''}` }
  const covers = chain.sniHosts.some((h) => hostCovers(h, sni ?? ''))
  return {
    name,
    selected,
    reason: covers
      ? `also covers SNI ${show(sni)}, but ${picked?.chain.name ?? ''} is more specific`
      : `SNI ${show(sni)} matches none of its hosts`,
  }
}

function serverNote(s: ir.ServerRef, host: string): CandidateNote {
  const name = `${s.gateway} ${s.portName} (${s.protocol}, hosts ${s.hosts.join(', ')})`
  const hostOnly = s.hosts.map((h) => h.slice(h.indexOf('/') + 1).toLowerCase())
  const covers = hostOnly.some((h) => hostCovers(h, host))
  return {
    name,
    selected: covers,
    reason: covers ? `a host covers "${host}"` : `no host covers "${host}"`,
  }
}

/** The target after normalization, or why normalization refuses it (the listener answers 400). */
function normalizeTarget(
  target: string,
  mode: ir.GatewaySettings['pathNormalization'],
): { readonly target: string } | { readonly refused: string } {
  const result = normalizePath(target.startsWith('/') ? target : `/${target}`, mode)
  return typeof result === 'string' ? { target: result } : { refused: result.reason }
}

function splitTarget(target: string): [path: string, query: string] {
  const q = target.indexOf('?')
  return q < 0 ? [target, ''] : [target.slice(0, q), target.slice(q + 1)]
}

function matchRequest(
  input: DescribeInput,
  path: string,
  query: string,
  scheme: string,
): MatchRequest {
  return {
    method: input.method.toUpperCase(),
    path,
    query,
    scheme,
    authority: input.authority,
    header: (name) => input.headers[name],
  }
}

const show = (v: string | undefined): string => (v === undefined ? '(none)' : JSON.stringify(v))
