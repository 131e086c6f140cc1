/**
 * Istio's IsCatchAllRoute (pilot/pkg/networking/core/route/route.go): a match is a catch-all
 * when its path condition is prefix `/` or regex `.*` (or absent) and it has no header, query,
 * method, scheme or authority condition. Istio stops translating a VirtualService after its
 * first catch-all and moves catch-alls behind the other routes of a virtual host.
 */
import type * as ir from '../ir/index.js'

export function isCatchAllMatch(m: ir.RequestMatch): boolean {
  const u = m.uri
  const anyPath =
    u === undefined ||
    u.kind === 'present' ||
    (u.kind === 'prefix' && u.value === '/') ||
    (u.kind === 'regex' && u.regex === '.*')
  return (
    anyPath &&
    m.scheme === undefined &&
    m.method === undefined &&
    m.authority === undefined &&
    m.headers.length === 0 &&
    m.queryParams.length === 0
  )
}

/** A compiled route matches every request: no match at all, or only catch-all matches. */
export function isCatchAllRoute(route: ir.HttpRoute): boolean {
  return route.match.length === 0 || route.match.every(isCatchAllMatch)
}

/** Stable partition: catch-all routes after the others, each group in its original order. */
export function moveCatchAllsLast(routes: readonly ir.HttpRoute[]): ir.HttpRoute[] {
  const rest: ir.HttpRoute[] = []
  const catchAlls: ir.HttpRoute[] = []
  for (const r of routes) (isCatchAllRoute(r) ? catchAlls : rest).push(r)
  return [...rest, ...catchAlls]
}
