/**
 * HTTPRoute checks from Istio's validation (pkg/config/validation/virtualservice.go and
 * validation.go): one action per route, rewrite/fault only with `route`, redirect codes and
 * schemes, weights, header names, authority set once. Policies (fault, retries, CORS) are in
 * http-policies.ts.
 */
import type { HTTPRoute, Path } from '../types.js'
import { checkCors, checkFault, checkRetries } from './http-policies.js'
import { checkHeaderOperations, headerMatchNameProblem, isAuthorityHeader } from './names.js'
import { at, type Report } from './report.js'
import { checkDestination, checkWeights } from './route-destinations.js'
import { checkStringMatch, matchKind } from './string-match.js'

/** The codes Envoy sends for a redirect; Istio translates nothing else. */
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308])
export interface RouteContext {
  /** The route belongs to a VirtualService without hosts (a delegate). */
  readonly inDelegate: boolean
}

export function checkHttpRoute(
  route: HTTPRoute,
  path: Path,
  ctx: RouteContext,
  report: Report,
): void {
  checkActions(route, path, ctx, report)
  checkMatches(route, path, report)
  checkHeaderOperations(route.headers, at(path, 'headers'), report)
  checkAuthority(route, path, report)
  route.route?.forEach((d, j) => {
    checkDestination(d.destination, at(path, 'route', j, 'destination'), report)
    checkHeaderOperations(d.headers, at(path, 'route', j, 'headers'), report)
  })
  checkWeights(route.route ?? [], at(path, 'route'), report)
  if (route.mirror !== undefined) checkDestination(route.mirror, at(path, 'mirror'), report)
  route.mirrors?.forEach((m, j) =>
    checkDestination(m.destination, at(path, 'mirrors', j, 'destination'), report),
  )
  checkRedirect(route, path, report)
  checkRewrite(route, path, report)
  checkFault(route, path, report)
  checkRetries(route, path, report)
  checkCors(route, path, report)
}

function checkActions(route: HTTPRoute, path: Path, ctx: RouteContext, report: Report): void {
  const set: string[] = []
  if ((route.route?.length ?? 0) > 0) set.push('route')
  if (route.redirect !== undefined) set.push('redirect')
  if (route.directResponse !== undefined) set.push('directResponse')
  if (route.delegate !== undefined) set.push('delegate')
  const [, second] = set
  if (set.length === 0) {
    report('PC1211', path, 'an HTTP route needs one of route, redirect, directResponse or delegate')
  } else if (second !== undefined) {
    report(
      'PC1201',
      at(path, second),
      `only one of route, redirect, directResponse or delegate may be set (found ${set.join(' and ')})`,
    )
  }
  if (ctx.inDelegate && route.delegate !== undefined) {
    report('PC1214', at(path, 'delegate'), 'delegate HTTP route cannot contain delegate')
  }
  const local =
    route.redirect !== undefined
      ? 'redirect'
      : route.directResponse !== undefined
        ? 'directResponse'
        : undefined
  if (local !== undefined) {
    if (route.rewrite !== undefined) {
      report('PC1205', at(path, 'rewrite'), `rewrite cannot be combined with ${local}`)
    }
    if (route.fault !== undefined) {
      report('PC1216', at(path, 'fault'), `fault cannot be combined with ${local}`)
    }
  }
  if (route.mirror !== undefined && route.mirrors !== undefined) {
    report(
      'PC1107',
      at(path, 'mirrors'),
      'only one of mirror, mirrors may be set (found mirror and mirrors)',
    )
  }
}

function checkMatches(route: HTTPRoute, path: Path, report: Report): void {
  route.match?.forEach((m, k) => {
    const mp = at(path, 'match', k)
    if (Object.keys(m).length === 0) {
      report(
        'PC1206',
        mp,
        'empty match: a match entry needs at least one condition (leave out match to match every request)',
      )
      return
    }
    checkStringMatch(m.uri, at(mp, 'uri'), 'uri', report, true)
    checkStringMatch(m.scheme, at(mp, 'scheme'), 'scheme', report)
    checkStringMatch(m.method, at(mp, 'method'), 'method', report)
    checkStringMatch(m.authority, at(mp, 'authority'), 'authority', report)
    for (const field of ['headers', 'withoutHeaders'] as const) {
      for (const [name, sm] of Object.entries(m[field] ?? {})) {
        const problem = headerMatchNameProblem(name)
        if (problem !== undefined) report('PC1210', at(mp, field, name), problem)
        // `regex: "*"` is Istio's presence match, not an RE2 pattern.
        checkStringMatch(sm, at(mp, field, name), field, report)
      }
    }
    for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
      checkStringMatch(sm, at(mp, 'queryParams', name), 'queryParams', report)
    }
  })
}

/** Istio lets the authority be rewritten in one place only (validateAuthorityRewrite). */
function checkAuthority(route: HTTPRoute, path: Path, report: Report): void {
  let current = route.rewrite?.authority ?? ''
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of Object.entries(route.headers?.request?.[op] ?? {})) {
      if (!isAuthorityHeader(name)) continue
      if (current !== '') {
        report(
          'PC1208',
          at(path, 'headers', 'request', op, name),
          `authority header cannot be set multiple times: have "${current}", attempting to set "${value}"`,
        )
        return
      }
      current = value
    }
  }
}

function checkRedirect(route: HTTPRoute, path: Path, report: Report): void {
  const r = route.redirect
  if (r === undefined) return
  const rp = at(path, 'redirect')
  if (
    r.uri === undefined &&
    r.authority === undefined &&
    r.port === undefined &&
    r.derivePort === undefined &&
    r.scheme === undefined &&
    r.prefixRewrite === undefined
  ) {
    report('PC1204', rp, 'redirect must specify uri, authority, scheme, port or prefixRewrite')
  }
  // 0 is protobuf's "unset", which Istio reads as the default 301.
  if (r.redirectCode !== undefined && r.redirectCode !== 0 && !REDIRECT_CODES.has(r.redirectCode)) {
    report(
      'PC1204',
      at(rp, 'redirectCode'),
      `${r.redirectCode} is not a redirect code the gateway can send; use 301, 302, 303, 307 or 308`,
    )
  }
  if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') {
    report('PC1204', at(rp, 'scheme'), 'invalid redirect scheme, must be "http" or "https"')
  }
  if (r.prefixRewrite !== undefined) {
    route.match?.forEach((m, k) => {
      if (m.uri === undefined || matchKind(m.uri) === 'prefix') return
      report(
        'PC1204',
        at(path, 'match', k, 'uri'),
        `prefixRewrite replaces the matched prefix, so every uri match of the route must be a prefix match (this one is ${matchKind(m.uri)})`,
      )
    })
  }
}

function checkRewrite(route: HTTPRoute, path: Path, report: Report): void {
  const r = route.rewrite
  if (r === undefined) return
  if (r.uri === undefined && r.uriRegexRewrite === undefined && r.authority === undefined) {
    report(
      'PC1116',
      at(path, 'rewrite'),
      'rewrite must specify at least one of uri, uriRegexRewrite or authority',
    )
  }
}
