import type * as ir from '../ir/index.js'
import { memoByIdentity } from '../lib/index.js'
import { compileStringMatch } from './string-matcher.js'
import type { StringMatcher } from './string-matcher.js'

/** Which request value a header match reads: a real header, or a pseudo-header. */
export type HeaderSource = 'header' | 'method' | 'authority' | 'scheme' | 'path'

export interface CompiledHeaderMatch {
  readonly name: string
  readonly source: HeaderSource
  readonly matcher: StringMatcher
  readonly invert: boolean
}

export interface CompiledQueryMatch {
  readonly name: string
  readonly matcher: StringMatcher
}

/** What matchRoute returns. Built once per (route, match), so a hit allocates nothing. */
export interface RouteMatch {
  readonly route: ir.HttpRoute
  /** Index into route.match of the entry that hit; -1 when the route has no match entries. */
  readonly matchIndex: number
  /** The `name` of the entry that hit, for logs. */
  readonly matchName: string | undefined
}

export interface CompiledRequestMatch {
  readonly index: number
  readonly name: string | undefined
  readonly method: StringMatcher | undefined
  readonly uri: StringMatcher | undefined
  readonly scheme: StringMatcher | undefined
  readonly authority: StringMatcher | undefined
  readonly headers: readonly CompiledHeaderMatch[]
  readonly queryParams: readonly CompiledQueryMatch[]
  readonly result: RouteMatch
}

export interface CompiledRoute {
  readonly route: ir.HttpRoute
  /** Empty when the route matches every request (see `matchAll`). */
  readonly matches: readonly CompiledRequestMatch[]
  /** Set when the route has no match entries: every request hits it. */
  readonly matchAll: RouteMatch | undefined
}

export interface CompiledVirtualHost {
  readonly virtualHost: ir.VirtualHost
  readonly name: string
  readonly requireTls: boolean
  readonly routes: readonly CompiledRoute[]
}

export interface WildcardDomain {
  /** The part after `*`, e.g. `.example.com`. */
  readonly suffix: string
  readonly domain: string
  readonly virtualHost: CompiledVirtualHost
}

/** A route table ready for per-request lookups. Immutable; build one per snapshot. */
export interface CompiledRouteTable {
  readonly name: string
  readonly table: ir.RouteTable
  readonly virtualHosts: readonly CompiledVirtualHost[]
  readonly exact: ReadonlyMap<string, CompiledVirtualHost>
  /** Longest suffix first, so the first hit is the most specific. */
  readonly wildcards: readonly WildcardDomain[]
  /** The virtual host with domain `*`, tried last. */
  readonly catchAll: CompiledVirtualHost | undefined
}

/**
 * Compiles a route table once: host lookup structures for Envoy's virtual-host precedence, and
 * per-route predicates with every regex compiled. Throws InvalidRouteRegexError when the IR
 * carries a regex RE2 would refuse, so a bad snapshot is rejected before it serves traffic.
 */
export function compileRouteTable(table: ir.RouteTable): CompiledRouteTable {
  const virtualHosts = table.virtualHosts.map(compileVirtualHost)
  const exact = new Map<string, CompiledVirtualHost>()
  const wildcards: WildcardDomain[] = []
  let catchAll: CompiledVirtualHost | undefined
  for (const vh of virtualHosts) {
    for (const raw of vh.virtualHost.domains) {
      const domain = raw.toLowerCase()
      if (domain === '*') {
        catchAll ??= vh
      } else if (domain.startsWith('*')) {
        if (!wildcards.some((w) => w.domain === domain)) {
          wildcards.push({ suffix: domain.slice(1), domain, virtualHost: vh })
        }
      } else if (!exact.has(domain)) {
        exact.set(domain, vh)
      }
    }
  }
  // A stable sort keeps table order among equally long suffixes.
  wildcards.sort((a, b) => b.suffix.length - a.suffix.length)
  return { name: table.name, table, virtualHosts, exact, wildcards, catchAll }
}

// Virtual hosts are kept by identity across reloads too (compile/route-table.ts).
const compileVirtualHost = memoByIdentity(compileVirtualHostOnce)

function compileVirtualHostOnce(vh: ir.VirtualHost): CompiledVirtualHost {
  return {
    virtualHost: vh,
    name: vh.name,
    requireTls: vh.requireTls,
    routes: vh.routes.map(compileRoute),
  }
}

// A compiled route depends on the route alone, and routes are frozen and kept by identity across
// reloads (compile/route-memo.ts): a reload compiles the matchers of the routes that changed
// only, and snapshots that share a route share its matchers. Weak: it leaves with the route.
const compileRoute = memoByIdentity(compileRouteOnce)

function compileRouteOnce(route: ir.HttpRoute): CompiledRoute {
  if (route.match.length === 0) {
    return { route, matches: [], matchAll: { route, matchIndex: -1, matchName: undefined } }
  }
  return {
    route,
    matches: route.match.map((m, i) => compileRequestMatch(route, m, i)),
    matchAll: undefined,
  }
}

function compileRequestMatch(
  route: ir.HttpRoute,
  m: ir.RequestMatch,
  index: number,
): CompiledRequestMatch {
  const where = `${route.id} match[${index}]`
  const uriCase = m.ignoreUriCase && m.uri !== undefined && m.uri.kind !== 'regex'
  return {
    index,
    name: m.name,
    method: m.method && compileStringMatch(m.method, `${where}.method`),
    uri: m.uri && compileStringMatch(m.uri, `${where}.uri`, uriCase),
    scheme: m.scheme && compileStringMatch(m.scheme, `${where}.scheme`),
    authority: m.authority && compileStringMatch(m.authority, `${where}.authority`),
    headers: m.headers.map((h) => ({
      name: h.name,
      source: headerSource(h.name),
      matcher: compileStringMatch(h.match, `${where}.headers[${h.name}]`),
      invert: h.invert,
    })),
    queryParams: m.queryParams.map((q) => ({
      name: q.name,
      matcher: compileStringMatch(q.match, `${where}.queryParams[${q.name}]`),
    })),
    result: { route, matchIndex: index, matchName: m.name },
  }
}

function headerSource(name: string): HeaderSource {
  switch (name) {
    case ':method':
      return 'method'
    case ':authority':
    case 'host':
      return 'authority'
    case ':scheme':
      return 'scheme'
    case ':path':
      return 'path'
    default:
      return 'header'
  }
}
