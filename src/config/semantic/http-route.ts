/**
 * HTTPRoute checks from Istio's validation (pkg/config/validation/virtualservice.go and
 * validation.go): one action per route, rewrite/fault only with `route`, redirect codes and
 * schemes, weights, header names, authority set once, fault and retry consistency.
 */
import type { HTTPRoute, Path, StringMatch } from '../types.js'
import { checkHeaderOperations, headerMatchNameProblem, isAuthorityHeader } from './names.js'
import { at, type Report } from './report.js'
import { checkDestination, checkWeights } from './route-destinations.js'

/** The codes Envoy sends for a redirect; Istio translates nothing else. */
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308])
const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
])
const GRPC_STATUSES = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
])
const CORS_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  '*',
])

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

function matchKind(m: StringMatch): 'exact' | 'prefix' | 'regex' | 'present' {
  if ('exact' in m) return 'exact'
  if ('prefix' in m) return 'prefix'
  if ('regex' in m) return 'regex'
  return 'present'
}

function matchValue(m: StringMatch): string | undefined {
  if ('exact' in m) return m.exact
  if ('prefix' in m) return m.prefix
  if ('regex' in m) return m.regex
  return undefined
}

/**
 * Empty `prefix` and empty `regex` match nothing useful and Envoy refuses them; only the URI may
 * have an empty prefix (it means "every path").
 */
function checkStringMatch(
  m: StringMatch | undefined,
  path: Path,
  where: string,
  report: Report,
  allowEmptyPrefix = false,
): void {
  if (m === undefined) return
  const kind = matchKind(m)
  if (matchValue(m) !== '') return
  if (kind === 'regex') {
    report('PC1116', at(path, 'regex'), `"${where}": regex string match should not be empty`)
  } else if (kind === 'prefix' && !allowEmptyPrefix) {
    report('PC1116', at(path, 'prefix'), `"${where}": prefix string match should not be empty`)
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

function checkPercentage(value: number | undefined, path: Path, report: Report): void {
  if (value === undefined || value === 0 || value >= 0.0001) return
  report('PC1212', path, `percentage ${value} is neither 0.0, nor in range [0.0001, 100.0]`)
}

function checkFault(route: HTTPRoute, path: Path, report: Report): void {
  const f = route.fault
  if (f === undefined) return
  const fp = at(path, 'fault')
  if (f.delay === undefined && f.abort === undefined) {
    report('PC1209', fp, 'HTTP fault injection must have an abort and/or a delay')
  }
  if (f.delay !== undefined) {
    checkPercentage(f.delay.percentage?.value, at(fp, 'delay', 'percentage', 'value'), report)
    if (f.delay.exponentialDelay !== undefined) {
      report(
        'PC1104',
        at(fp, 'delay', 'exponentialDelay'),
        'exponentialDelay is not supported by Istio; use fixedDelay',
      )
    }
  }
  if (f.abort !== undefined) {
    checkPercentage(f.abort.percentage?.value, at(fp, 'abort', 'percentage', 'value'), report)
    if (f.abort.grpcStatus !== undefined && !GRPC_STATUSES.has(f.abort.grpcStatus)) {
      report(
        'PC1104',
        at(fp, 'abort', 'grpcStatus'),
        `gRPC status "${f.abort.grpcStatus}" is not supported; use a status name such as UNAVAILABLE or NOT_FOUND`,
      )
    }
    if (f.abort.http2Error !== undefined) {
      report(
        'PC1104',
        at(fp, 'abort', 'http2Error'),
        'HTTP/2 abort fault injection is not supported by Istio; use httpStatus',
      )
    }
  }
}

function checkRetries(route: HTTPRoute, path: Path, report: Report): void {
  const r = route.retries
  if (r === undefined) return
  const rp = at(path, 'retries')
  // attempts is a proto3 int32: leaving it out means 0, which disables retries.
  if (
    (r.attempts ?? 0) === 0 &&
    (r.perTryTimeout !== undefined ||
      r.retryOn !== undefined ||
      r.retryRemoteLocalities !== undefined)
  ) {
    report(
      'PC1217',
      at(rp, 'attempts'),
      'http retry policy configured when attempts are set to 0 (disabled); set attempts',
    )
  }
  if (r.retryOn !== undefined) {
    for (const policy of r.retryOn.split(',')) {
      if (RETRY_ON.has(policy) || isHttpStatus(policy)) continue
      report('PC1104', at(rp, 'retryOn'), `"${policy}" is not a valid retryOn policy`)
    }
  }
}

function isHttpStatus(v: string): boolean {
  return /^[1-5][0-9][0-9]$/.test(v)
}

function checkCors(route: HTTPRoute, path: Path, report: Report): void {
  const c = route.corsPolicy
  if (c === undefined) return
  const cp = at(path, 'corsPolicy')
  c.allowOrigins?.forEach((o, i) => {
    if (matchValue(o) === '' || matchKind(o) === 'present') {
      report(
        'PC1116',
        at(cp, 'allowOrigins', i),
        'an allowOrigins entry needs a non-empty exact, prefix or regex',
      )
    }
  })
  c.allowMethods?.forEach((m, i) => {
    if (!CORS_METHODS.has(m)) {
      report('PC1104', at(cp, 'allowMethods', i), `"${m}" is not a supported HTTP method`)
    }
  })
  for (const field of ['allowHeaders', 'exposeHeaders'] as const) {
    c[field]?.forEach((name, i) => {
      if (name === '*') return
      const problem = headerMatchNameProblem(name)
      if (problem !== undefined || name.startsWith(':')) {
        report(
          'PC1210',
          at(cp, field, i),
          problem ?? `header name "${name}" is not a valid header name`,
        )
      }
    })
  }
  if (c.maxAge !== undefined && c.maxAge % 1000 !== 0) {
    report(
      'PC1106',
      at(cp, 'maxAge'),
      'maxAge is sent in whole seconds; use a whole number of seconds',
    )
  }
}
