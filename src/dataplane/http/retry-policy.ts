import type * as ir from '../../ir/index.js'

/**
 * Istio's HTTPRetry as Envoy's router evaluates it, decided once per route. Envoy's `5xx` and
 * `gateway-error` also cover resets and connect failures; `reset` covers every failure to get
 * response headers, per-try timeouts included.
 */
export interface PreparedRetry {
  /** Retries after the first try. */
  readonly attempts: number
  readonly onConnectFailure: boolean
  /** The connection closed or reset after the request was sent, before response headers. */
  readonly onReset: boolean
  /** An HTTP/2 upstream refused the stream (REFUSED_STREAM): it never processed the request. */
  readonly onRefusedStream: boolean
  readonly onPerTryTimeout: boolean
  readonly on5xx: boolean
  readonly onGatewayError: boolean
  readonly on4xx: boolean
  readonly statusCodes: ReadonlySet<number>
  readonly backoffBaseMs: number
  readonly perTryTimeoutMs: number | undefined
}

export function prepareRetry(p: ir.RetryPolicy): PreparedRetry {
  const on = new Set(p.retryOn)
  const on5xx = on.has('5xx')
  const onGatewayError = on.has('gateway-error')
  const onReset = on.has('reset') || on5xx || onGatewayError
  return {
    attempts: Math.max(0, p.attempts),
    onConnectFailure: onReset || on.has('connect-failure') || on.has('reset-before-request'),
    onReset,
    onRefusedStream: onReset || on.has('refused-stream'),
    onPerTryTimeout: onReset,
    on5xx,
    onGatewayError,
    on4xx: on.has('retriable-4xx'),
    statusCodes: on.has('retriable-status-codes') ? new Set(p.retriableStatusCodes) : new Set(),
    backoffBaseMs: p.backoffBaseMs > 0 ? p.backoffBaseMs : 25,
    perTryTimeoutMs: p.perTryTimeoutMs,
  }
}

export function isRetriableStatus(r: PreparedRetry, status: number): boolean {
  if (r.on5xx && status >= 500) return true
  if (r.onGatewayError && (status === 502 || status === 503 || status === 504)) return true
  if (r.on4xx && status === 409) return true
  return r.statusCodes.has(status)
}

/** Envoy's fully jittered exponential backoff: up to (2^n - 1) x base, capped at 10 x base. */
export function retryBackoffMs(r: PreparedRetry, retryNumber: number): number {
  const ceiling = Math.min((2 ** retryNumber - 1) * r.backoffBaseMs, 10 * r.backoffBaseMs)
  return Math.floor(Math.random() * ceiling)
}
