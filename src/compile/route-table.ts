/**
 * The route table of one plain-HTTP port (Istio's buildGatewayHTTPRouteConfig): every HTTP
 * server of every Gateway on the port shares it. Each host where a bound VirtualService meets a
 * server becomes a virtual host; several VirtualServices for one host are concatenated in file
 * order, then catch-all routes move behind the others. A server with httpsRedirect also gets a
 * virtual host for each of its own hosts, even without a VirtualService.
 */
import { canonicalJson, memoByIdentity } from '../lib/index.js'
import type * as ir from '../ir/index.js'
import { intersectServerHosts, type BoundVirtualService } from './binding.js'
import { moveCatchAllsLast } from './catch-all.js'
import { sharedJson } from './share.js'
import type { HttpPort } from './servers.js'

interface VirtualHostBuilder {
  requireTls: boolean
  /** The route lists of the VirtualServices that meet this host, in binding order. */
  readonly parts: (readonly ir.HttpRoute[])[]
}

/** Routes taken into one virtual host so far, and by id (see addRoute). */
interface RouteSet {
  readonly routes: ir.HttpRoute[]
  readonly byId: Map<ir.RouteId, ir.HttpRoute[]>
}

// Routes are frozen once compiled (and reused by identity across reloads), so a route's
// canonical form can be kept with it.
const canonicalOf = memoByIdentity((r: ir.HttpRoute): string => canonicalJson(r, sharedJson))

/**
 * The same VirtualService reached through two servers or Gateways yields the same routes again;
 * a later identical route could never match, so it is left out. The id is part of the route (it
 * names the VirtualService and the index there), so only routes with the same id can be
 * identical: canonical forms are compared only for those, not computed for every route.
 */
function addRoute(b: RouteSet, r: ir.HttpRoute): void {
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

/**
 * Virtual hosts kept across compiles (for `run`'s reloads): a virtual host is a function of its
 * host, port, requireTls and the route lists that meet it, and the route memo gives unchanged
 * VirtualServices the same route lists by identity. So a host whose lists are the same arrays as
 * last time keeps its VirtualHost object (deduplicated, catch-alls last), and only the hosts
 * of changed VirtualServices are built again. `scope` tells route tables apart.
 */
export interface VirtualHostMemo {
  begin(): void
  virtualHost(
    scope: string,
    host: string,
    b: VirtualHostBuilder,
    build: () => ir.VirtualHost,
  ): ir.VirtualHost
}

export function createVirtualHostMemo(): VirtualHostMemo {
  type Entry = { readonly b: VirtualHostBuilder; readonly vh: ir.VirtualHost }
  let last = new Map<string, Entry>()
  let next = new Map<string, Entry>()
  const same = (a: VirtualHostBuilder, b: VirtualHostBuilder): boolean =>
    a.requireTls === b.requireTls &&
    a.parts.length === b.parts.length &&
    a.parts.every((p, i) => p === b.parts[i])
  return {
    begin() {
      // What the previous compile built is what this one may keep; hosts it dropped leave.
      last = next
      next = new Map()
    },
    virtualHost(scope, host, b, build) {
      const key = `${scope}\0${host}`
      const hit = last.get(key)
      const vh = hit !== undefined && same(hit.b, b) ? hit.vh : build()
      next.set(key, { b, vh })
      return vh
    },
  }
}

function buildVirtualHost(host: string, port: number, b: VirtualHostBuilder): ir.VirtualHost {
  const set: RouteSet = { routes: [], byId: new Map() }
  for (const part of b.parts) for (const r of part) addRoute(set, r)
  return {
    name: `${host}:${port}`,
    domains: [host],
    requireTls: b.requireTls,
    routes: moveCatchAllsLast(set.routes),
  }
}

export function compileRouteTable(
  httpPort: HttpPort,
  bindings: readonly BoundVirtualService[],
  routesFor: RoutesFor,
  memo?: { readonly vhosts: VirtualHostMemo; readonly scope: string },
): ir.RouteTable {
  const { port } = httpPort
  const hosts = new Map<string, VirtualHostBuilder>()
  const vhost = (host: string): VirtualHostBuilder => {
    let b = hosts.get(host)
    if (b === undefined) {
      b = { requireTls: false, parts: [] }
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
        b.parts.push(routes)
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
      const build = () => buildVirtualHost(host, port, b)
      return memo !== undefined ? memo.vhosts.virtualHost(memo.scope, host, b, build) : build()
    })
  return { name: `http.${port}`, virtualHosts }
}
