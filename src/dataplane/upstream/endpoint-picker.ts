import type { UpstreamEndpoint } from './endpoint.js'

/**
 * Round robin over endpoints honouring their weights. Equal weights use a plain cursor; unequal
 * weights use smooth weighted round robin (nginx), which interleaves picks instead of sending
 * bursts to the heaviest endpoint. The state survives reloads with the cluster runtime.
 */
export class EndpointPicker {
  readonly endpoints: readonly UpstreamEndpoint[]
  readonly #weighted: boolean
  readonly #current: number[]
  readonly #total: number
  #cursor = 0

  constructor(endpoints: readonly UpstreamEndpoint[]) {
    this.endpoints = endpoints
    const first = endpoints[0]?.weight
    this.#weighted = endpoints.some((e) => e.weight !== first)
    this.#current = endpoints.map(() => 0)
    this.#total = endpoints.reduce((sum, e) => sum + e.weight, 0)
  }

  pick(): UpstreamEndpoint | undefined {
    const eps = this.endpoints
    const n = eps.length
    if (n === 0) return undefined
    if (n === 1) return eps[0]
    if (!this.#weighted) {
      const e = eps[this.#cursor]
      this.#cursor = this.#cursor + 1 === n ? 0 : this.#cursor + 1
      return e
    }
    const current = this.#current
    let best = 0
    for (let i = 0; i < n; i++) {
      current[i] = current[i]! + eps[i]!.weight
      if (current[i]! > current[best]!) best = i
    }
    current[best] = current[best]! - this.#total
    return eps[best]
  }

  /**
   * Picks an endpoint not tried yet when there is one (Envoy's previous_hosts retry predicate,
   * with Istio's 5 selection attempts); falls back to whatever the last pick was.
   */
  pickAvoiding(tried: readonly UpstreamEndpoint[]): UpstreamEndpoint | undefined {
    let e = this.pick()
    for (let i = 1; i < 5 && e !== undefined && tried.includes(e); i++) e = this.pick()
    return e
  }
}
