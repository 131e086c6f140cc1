/**
 * The route table of one plain-HTTP port (Istio's buildGatewayHTTPRouteConfig): every HTTP
 * server of every Gateway on the port shares it. Each host where a bound VirtualService meets a
 * server becomes a virtual host; several VirtualServices for one host are concatenated in file
 * order, then catch-all routes move behind the others. A server with httpsRedirect also gets a
 * virtual host for each of its own hosts, even without a VirtualService.
 */
import { canonicalJson } from '../lib/index.js'
import type * as ir from '../ir/index.js'
import { intersectServerHosts, type BoundVirtualService } from './binding.js'
import { moveCatchAllsLast } from './catch-all.js'
import type { HttpPort } from './servers.js'

interface VirtualHostBuilder {
  requireTls: boolean
  readonly routes: ir.HttpRoute[]
  /** The routes taken so far, by id (see addRoute). */
  readonly byId: Map<ir.RouteId, ir.HttpRoute[]>
}

// Routes are frozen once compiled (and reused by identity across reloads), so a route's
// canonical form can be kept with it.
const canonicalForms = new WeakMap<ir.HttpRoute, string>()
function canonicalOf(r: ir.HttpRoute): string {
  let s = canonicalForms.get(r)
  if (s === undefined) {
    s = canonicalJson(r)
    canonicalForms.set(r, s)
  }
  return s
}

/**
 * The same VirtualService reached through two servers or Gateways yields the same routes again;
 * a later identical route could never match, so it is left out. The id is part of the route (it
 * names the VirtualService and the index there), so only routes with the same id can be
 * identical: canonical forms are compared only for those, not computed for every route.
 */
function addRoute(b: VirtualHostBuilder, r: ir.HttpRoute): void {
  const same = b.byId.get(r.id)
  if (same === undefined) {
    b.byId.set(r.id, [r])
    b.routes.push(r)
    return
  }
  if (same.includes(r)) return
  const key = canonicalOf(r)
  if (same.some((o) => canonicalOf(o) === key)) return
  same.push(r)
  b.routes.push(r)
}

/** exact names, then wildcards with the longest suffix first, then `*` (Envoy's selection). */
export function compareHostPrecedence(a: string, b: string): number {
  const rank = (h: string) => (h === '*' ? 2 : h.startsWith('*') ? 1 : 0)
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra - rb
  if (ra === 1 && a.length !== b.length) return b.length - a.length
  return a < b ? -1 : a > b ? 1 : 0
}

export type RoutesFor = (
  vs: BoundVirtualService,
  gatewayKey: string,
  port: number,
) => readonly ir.HttpRoute[]

export function compileRouteTable(
  httpPort: HttpPort,
  bindings: readonly BoundVirtualService[],
  routesFor: RoutesFor,
): ir.RouteTable {
  const { port } = httpPort
  const hosts = new Map<string, VirtualHostBuilder>()
  const vhost = (host: string): VirtualHostBuilder => {
    let b = hosts.get(host)
    if (b === undefined) {
      b = { requireTls: false, routes: [], byId: new Map() }
      hosts.set(host, b)
    }
    return b
  }
  for (const server of httpPort.servers) {
    const gwNamespace = server.gateway.metadata.namespace
    for (const bound of bindings) {
      if (!bound.gateways.has(server.gatewayKey)) continue
      const meet = intersectServerHosts(bound, gwNamespace, server.hosts)
      if (meet.length === 0) continue
      const routes = routesFor(bound, server.gatewayKey, port)
      // Istio builds no virtual host from a VirtualService without routes for this port.
      if (routes.length === 0) continue
      for (const host of meet) {
        const b = vhost(host)
        if (server.httpsRedirect) b.requireTls = true
        for (const r of routes) addRoute(b, r)
      }
    }
    if (server.httpsRedirect) {
      for (const sh of server.hosts) vhost(sh.host).requireTls = true
    }
  }
  const virtualHosts: ir.VirtualHost[] = [...hosts.keys()]
    .sort(compareHostPrecedence)
    .map((host) => {
      const b = hosts.get(host)!
      return {
        name: `${host}:${port}`,
        domains: [host],
        requireTls: b.requireTls,
        routes: moveCatchAllsLast(b.routes),
      }
    })
  return { name: `http.${port}`, virtualHosts }
}
