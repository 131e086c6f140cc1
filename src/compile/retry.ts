/** Istio HTTPRetry → ir.RetryPolicy (pilot/pkg/networking/core/route/retry/retry.go). */
import type * as istio from '../config/index.js'
import type * as ir from '../ir/index.js'

const DEFAULT_RETRY_ON = [
  'connect-failure',
  'refused-stream',
  'unavailable',
  'cancelled',
  'retriable-status-codes',
] as const

/**
 * Istio's default when a route has no `retries`: 2 retries on connection-level failures. Since
 * Istio 1.24 no status code is retriable by default, so an upstream 503 is not retried.
 */
export const DEFAULT_RETRY: ir.RetryPolicy = {
  attempts: 2,
  retryOn: DEFAULT_RETRY_ON,
  retriableStatusCodes: [],
  backoffBaseMs: 25,
}

// Go's http.StatusText knows these; Istio treats any of them in retryOn as a status code.
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
  305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
  416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505,
  506, 507, 508, 510, 511,
])

type HTTPRetry = NonNullable<istio.HTTPRoute['retries']>

export function compileRetry(retries: HTTPRetry | undefined): ir.RetryPolicy {
  if (retries === undefined) return DEFAULT_RETRY
  const attempts = retries.attempts ?? 0
  // An explicit policy with 0 attempts (also the proto default) disables retries.
  if (attempts <= 0) return { ...DEFAULT_RETRY, attempts: 0, retryOn: [] }
  let retryOn: readonly string[] = DEFAULT_RETRY_ON
  const codes: number[] = []
  if (retries.retryOn !== undefined && retries.retryOn.trim() !== '') {
    const tokens: string[] = []
    for (const raw of retries.retryOn.split(',')) {
      const part = raw.trim()
      if (part === '') continue
      const n = Number(part)
      if (/^\d+$/.test(part) && KNOWN_STATUS.has(n)) codes.push(n)
      else tokens.push(part)
    }
    // Plain status codes need Envoy's `retriable-status-codes` condition; Istio adds it.
    if (codes.length > 0 && !tokens.includes('retriable-status-codes')) {
      tokens.push('retriable-status-codes')
    }
    retryOn = tokens
  }
  return {
    attempts,
    ...(retries.perTryTimeout !== undefined ? { perTryTimeoutMs: retries.perTryTimeout } : {}),
    retryOn,
    retriableStatusCodes: codes,
    backoffBaseMs: retries.backoff ?? DEFAULT_RETRY.backoffBaseMs,
  }
}
