/**
 * Route policy checks from Istio's validation: fault injection (delay or abort, percentages,
 * gRPC status names), retries (attempts, retryOn vocabulary) and CORS (methods, origins, header
 * names, max age in seconds).
 */
import type { HTTPRoute, Path } from '../types.js'
import { headerMatchNameProblem } from './names.js'
import { at, type Report } from './report.js'
import { matchKind, matchValue } from './string-match.js'

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

function checkPercentage(value: number | undefined, path: Path, report: Report): void {
  if (value === undefined || value === 0 || value >= 0.0001) return
  report('PC1212', path, `percentage ${value} is neither 0.0, nor in range [0.0001, 100.0]`)
}

export function checkFault(route: HTTPRoute, path: Path, report: Report): void {
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

export function checkRetries(route: HTTPRoute, path: Path, report: Report): void {
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

export function checkCors(route: HTTPRoute, path: Path, report: Report): void {
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
