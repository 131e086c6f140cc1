import type { CompiledHeaderMatch, CompiledRequestMatch, CompiledVirtualHost } from './compile.js'
import type { RouteMatch } from './compile.js'
import { findQueryParam } from './query.js'
import type { MatchRequest } from './request.js'
import { testStringMatch } from './string-matcher.js'

/** The first route of the virtual host whose match list accepts the request (Istio order). */
export function matchRoute(vhost: CompiledVirtualHost, req: MatchRequest): RouteMatch | undefined {
  const routes = vhost.routes
  for (let r = 0; r < routes.length; r++) {
    const route = routes[r]!
    if (route.matchAll !== undefined) return route.matchAll
    const matches = route.matches
    for (let m = 0; m < matches.length; m++) {
      const match = matches[m]!
      if (testRequestMatch(match, req)) return match.result
    }
  }
  return undefined
}

/** Every condition of one match entry must hold. Cheap checks come first. */
export function testRequestMatch(m: CompiledRequestMatch, req: MatchRequest): boolean {
  if (m.method !== undefined && !testStringMatch(m.method, req.method)) return false
  if (m.uri !== undefined && !testStringMatch(m.uri, req.path)) return false
  if (m.scheme !== undefined && !testStringMatch(m.scheme, req.scheme)) return false
  if (m.authority !== undefined && !testStringMatch(m.authority, req.authority)) return false
  const headers = m.headers
  for (let i = 0; i < headers.length; i++) {
    if (!testHeaderMatch(headers[i]!, req)) return false
  }
  const params = m.queryParams
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!
    const value = findQueryParam(req.query, p.name)
    if (value === undefined || !testStringMatch(p.matcher, value)) return false
  }
  return true
}

/**
 * A header condition. A missing header fails a normal match; for an inverted match
 * (`withoutHeaders`) it counts as the empty string, except that "not present" holds.
 */
export function testHeaderMatch(h: CompiledHeaderMatch, req: MatchRequest): boolean {
  const value = readHeader(h, req)
  if (value === undefined) {
    if (!h.invert) return false
    return h.matcher.kind === 'present' ? true : !testStringMatch(h.matcher, '')
  }
  const hit = testStringMatch(h.matcher, value)
  return h.invert ? !hit : hit
}

export function readHeader(h: CompiledHeaderMatch, req: MatchRequest): string | undefined {
  switch (h.source) {
    case 'header':
      return req.header(h.name)
    case 'method':
      return req.method
    case 'authority':
      return req.authority
    case 'scheme':
      return req.scheme
    case 'path':
      return req.query === '' ? req.path : `${req.path}?${req.query}`
  }
}
