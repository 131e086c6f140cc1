import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { UpstreamEndpoint } from './endpoint.js'

/**
 * Envoy's consecutive-error outlier detection as Istio configures it. An endpoint is ejected
 * once it returns `consecutive5xxErrors` 5xx in a row (or `consecutiveGatewayErrors` 502/503/504,
 * or with split local-origin errors `consecutiveLocalOriginFailures` connect failures/resets),
 * for baseEjectionTime × the number of times it has been ejected. At most maxEjectionPercent
 * of the endpoints are ejected at once, but at least one may always be (Envoy). Ejections end
 * exactly when their time runs out (Envoy checks at the next interval tick).
 */
export class OutlierDetector {
  readonly #policy: ir.OutlierDetectionPolicy
  readonly #clusterId: string
  readonly #log: Logger

  constructor(policy: ir.OutlierDetectionPolicy, clusterId: string, log: Logger) {
    this.#policy = policy
    this.#clusterId = clusterId
    this.#log = log
  }

  /** An upstream response with `status` (externally originated). */
  onStatus(
    e: UpstreamEndpoint,
    status: number,
    all: readonly UpstreamEndpoint[],
    now: number,
  ): void {
    const p = this.#policy
    // A response also proves the connection worked.
    e.consecutiveLocal = 0
    if (status < 500) {
      e.consecutive5xx = 0
      e.consecutiveGateway = 0
      return
    }
    e.consecutive5xx++
    if (status === 502 || status === 503 || status === 504) e.consecutiveGateway++
    else e.consecutiveGateway = 0
    if (p.consecutive5xxErrors > 0 && e.consecutive5xx >= p.consecutive5xxErrors) {
      this.#eject(e, all, now, 'consecutive_5xx')
    } else if (
      p.consecutiveGatewayErrors > 0 &&
      e.consecutiveGateway >= p.consecutiveGatewayErrors
    ) {
      this.#eject(e, all, now, 'consecutive_gateway_failure')
    }
  }

  /** Connect failure, reset or timeout before a response: a locally originated error. */
  onLocalFailure(e: UpstreamEndpoint, all: readonly UpstreamEndpoint[], now: number): void {
    const p = this.#policy
    if (p.splitExternalLocalOriginErrors) {
      e.consecutiveLocal++
      if (
        p.consecutiveLocalOriginFailures > 0 &&
        e.consecutiveLocal >= p.consecutiveLocalOriginFailures
      ) {
        this.#eject(e, all, now, 'consecutive_local_origin_failure')
      }
      return
    }
    // Without the split, Envoy counts them as 503s from the upstream.
    this.onStatus(e, 503, all, now)
  }

  #eject(e: UpstreamEndpoint, all: readonly UpstreamEndpoint[], now: number, why: string): void {
    e.consecutive5xx = 0
    e.consecutiveGateway = 0
    e.consecutiveLocal = 0
    if (e.ejectedUntil > now) return
    let ejected = 0
    for (const other of all) if (other.ejectedUntil > now) ejected++
    const p = this.#policy
    if (ejected > 0 && ((ejected + 1) * 100) / all.length > p.maxEjectionPercent) return
    e.ejections++
    const forMs = p.baseEjectionTimeMs * e.ejections
    e.ejectedUntil = now + forMs
    this.#log.info('upstream endpoint ejected', {
      cluster: this.#clusterId,
      endpoint: e.address,
      reason: why,
      ejectionMs: forMs,
      ejections: e.ejections,
    })
  }
}
