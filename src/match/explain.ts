import { normalizeHost } from '../lib/index.js'
import type { CompiledRequestMatch, CompiledRouteTable, CompiledVirtualHost } from './compile.js'
import type { RouteMatch } from './compile.js'
import { matchRoute, readHeader, testHeaderMatch } from './match-route.js'
import { findQueryParam } from './query.js'
import type { MatchRequest } from './request.js'
import { selectVirtualHost } from './select-virtual-host.js'
import { describeStringMatch, testStringMatch } from './string-matcher.js'
import type { StringMatcher } from './string-matcher.js'

export interface MatchExplanation {
  readonly index: number
  readonly name: string | undefined
  readonly matched: boolean
  /** One line per condition that failed; empty when the entry matched. */
  readonly failures: readonly string[]
}

export interface RouteExplanation {
  readonly id: string
  readonly name: string | undefined
  /** `not-reached`: an earlier route already took the request (its own matches still shown). */
  readonly outcome: 'matched' | 'not-matched' | 'not-reached'
  readonly matchesAll: boolean
  readonly matches: readonly MatchExplanation[]
}

export interface VirtualHostExplanation {
  readonly name: string
  readonly domains: readonly string[]
  readonly selected: boolean
  readonly reason: string
  /** Only for the selected virtual host, in route order. */
  readonly routes: readonly RouteExplanation[] | undefined
}

export interface RequestExplanation {
  readonly table: string
  readonly host: string
  readonly virtualHosts: readonly VirtualHostExplanation[]
  readonly selectedVirtualHost: string | undefined
  readonly match: RouteMatch | undefined
  /** One line for humans: what the gateway does with the request. */
  readonly summary: string
}

/**
 * Explains routing for `describe`: for every virtual host and route, why it did or did not take
 * the request. Gives the same answer as selectVirtualHost + matchRoute; slow, not for traffic.
 */
export function explainRequest(table: CompiledRouteTable, req: MatchRequest): RequestExplanation {
  // Host matching ignores the port and case, as in the data plane.
  const host = normalizeHost(req.authority) ?? ''
  const selected = selectVirtualHost(table, host)
  const match = selected && matchRoute(selected, req)
  const virtualHosts = table.virtualHosts.map((vh) => ({
    name: vh.name,
    domains: vh.virtualHost.domains,
    selected: vh === selected,
    reason: explainDomain(table, vh, selected, host),
    routes: vh === selected ? explainRoutes(vh, req) : undefined,
  }))
  let summary: string
  if (selected === undefined) {
    summary = `404 NR: no virtual host of ${table.name} covers host "${host}"`
  } else if (match === undefined) {
    summary = `404 NR: virtual host ${selected.name} has no route matching the request`
  } else {
    const entry =
      match.matchIndex < 0
        ? ''
        : ` (match[${match.matchIndex}]${match.matchName !== undefined ? ` "${match.matchName}"` : ''})`
    summary = `route ${match.route.id}${entry} on virtual host ${selected.name}`
  }
  return {
    table: table.name,
    host,
    virtualHosts,
    selectedVirtualHost: selected?.name,
    match,
    summary,
  }
}

function coveringDomain(vh: CompiledVirtualHost, host: string): string | undefined {
  let best: string | undefined
  for (const raw of vh.virtualHost.domains) {
    const d = raw.toLowerCase()
    let covers: boolean
    if (d === '*') covers = true
    else if (d.startsWith('*')) covers = host.length > d.length - 1 && host.endsWith(d.slice(1))
    else covers = d === host
    if (covers && (best === undefined || specificity(d) > specificity(best))) best = d
  }
  return best
}

function specificity(domain: string): number {
  if (domain === '*') return 0
  if (domain.startsWith('*')) return domain.length
  return Number.MAX_SAFE_INTEGER
}

function explainDomain(
  table: CompiledRouteTable,
  vh: CompiledVirtualHost,
  selected: CompiledVirtualHost | undefined,
  host: string,
): string {
  const own = coveringDomain(vh, host)
  if (own === undefined) return `no domain covers "${host}"`
  if (vh === selected) {
    if (own === '*') return 'catch-all domain "*" (no exact or wildcard domain covers the host)'
    if (own.startsWith('*'))
      return `wildcard domain "${own}" is the longest suffix covering the host`
    return `exact domain "${own}"`
  }
  const winner = selected === undefined ? undefined : coveringDomain(selected, host)
  if (winner !== undefined && specificity(winner) === specificity(own)) {
    return `"${own}" also covers the host, but ${selected?.name ?? ''} comes first in ${table.name}`
  }
  return `"${own}" covers the host, but "${winner ?? ''}" is more specific`
}

function explainRoutes(vh: CompiledVirtualHost, req: MatchRequest): RouteExplanation[] {
  let taken = false
  return vh.routes.map((r) => {
    const matches = r.matches.map((m) => explainMatch(m, req))
    const hit = r.matchAll !== undefined || matches.some((m) => m.matched)
    const outcome = taken ? 'not-reached' : hit ? 'matched' : 'not-matched'
    if (hit) taken = true
    return {
      id: r.route.id,
      name: r.route.name,
      outcome,
      matchesAll: r.matchAll !== undefined,
      matches,
    }
  })
}

function explainMatch(m: CompiledRequestMatch, req: MatchRequest): MatchExplanation {
  const failures: string[] = []
  check(failures, 'method', m.method, req.method)
  check(failures, 'uri', m.uri, req.path)
  check(failures, 'scheme', m.scheme, req.scheme)
  check(failures, 'authority', m.authority, req.authority)
  for (const h of m.headers) {
    if (testHeaderMatch(h, req)) continue
    const value = readHeader(h, req)
    const what = `${h.invert ? 'withoutHeaders' : 'header'} ${h.name}`
    if (value === undefined) failures.push(`${what}: missing`)
    else if (h.invert) failures.push(`${what}: ${show(value)} matches ${describe(h.matcher)}`)
    else failures.push(`${what}: ${show(value)} does not match ${describe(h.matcher)}`)
  }
  for (const q of m.queryParams) {
    const value = findQueryParam(req.query, q.name)
    if (value === undefined) failures.push(`query ${q.name}: missing`)
    else if (!testStringMatch(q.matcher, value)) {
      failures.push(`query ${q.name}: ${show(value)} does not match ${describe(q.matcher)}`)
    }
  }
  return { index: m.index, name: m.name, matched: failures.length === 0, failures }
}

function check(
  failures: string[],
  what: string,
  matcher: StringMatcher | undefined,
  value: string,
): void {
  if (matcher !== undefined && !testStringMatch(matcher, value)) {
    failures.push(`${what}: ${show(value)} does not match ${describe(matcher)}`)
  }
}

const describe = describeStringMatch
const show = (v: string): string => JSON.stringify(v)
