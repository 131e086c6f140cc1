import type * as ir from '../../ir/index.js'
import { weightedPick } from '../../lib/index.js'
import type { UpstreamEndpoint } from './endpoint.js'
import { isAvailable } from './endpoint.js'
import { EndpointPicker } from './endpoint-picker.js'

/** Hash points each unit of endpoint weight gets on the consistent-hash ring. */
const POINTS_PER_WEIGHT = 128

/**
 * Picks an endpoint for one attempt. `hash` is the request's consistent-hash key (undefined
 * when the policy has none or the request lacks it); `tried` holds endpoints earlier attempts
 * went to (avoided when possible, Envoy's previous_hosts); ejected endpoints are skipped.
 * Undefined means no endpoint can take the request (503 UH).
 */
export interface Balancer {
  readonly endpoints: readonly UpstreamEndpoint[]
  pick(
    hash: number | undefined,
    tried: readonly UpstreamEndpoint[] | undefined,
    now: number,
  ): UpstreamEndpoint | undefined
}

export function createBalancer(
  lb: ir.LoadBalancer | undefined,
  endpoints: readonly UpstreamEndpoint[],
): Balancer {
  switch (lb?.kind) {
    case 'LEAST_REQUEST':
      return new ChoosingBalancer(endpoints, leastRequest)
    case 'RANDOM':
      return new ChoosingBalancer(endpoints, weightedPick)
    case 'CONSISTENT_HASH':
      return new RingHashBalancer(endpoints)
    default:
      return new RoundRobinBalancer(endpoints)
  }
}

/** The endpoints a pick may choose from; the common case (none ejected, none tried) is free. */
function candidates(
  eps: readonly UpstreamEndpoint[],
  tried: readonly UpstreamEndpoint[] | undefined,
  now: number,
): readonly UpstreamEndpoint[] {
  let out: UpstreamEndpoint[] | undefined
  for (let i = 0; i < eps.length; i++) {
    const e = eps[i]!
    if (isAvailable(e, now)) {
      out?.push(e)
    } else {
      out ??= eps.slice(0, i)
    }
  }
  const available = out ?? eps
  if (tried === undefined || tried.length === 0) return available
  const fresh = available.filter((e) => !tried.includes(e))
  // Every endpoint was tried already: any available one will do.
  return fresh.length > 0 ? fresh : available
}

class RoundRobinBalancer implements Balancer {
  readonly endpoints: readonly UpstreamEndpoint[]
  readonly #picker: EndpointPicker

  constructor(endpoints: readonly UpstreamEndpoint[]) {
    this.endpoints = endpoints
    this.#picker = new EndpointPicker(endpoints)
  }

  pick(
    _hash: number | undefined,
    tried: readonly UpstreamEndpoint[] | undefined,
    now: number,
  ): UpstreamEndpoint | undefined {
    const eps = this.endpoints
    const allowed = candidates(eps, tried, now)
    if (allowed.length === 0) return undefined
    if (allowed === eps) return this.#picker.pick()
    // Keep the shared cursor moving; bounded by the weight cycle, then the first allowed one.
    for (let i = 0; i < 2 * eps.length; i++) {
      const e = this.#picker.pick()
      if (e !== undefined && allowed.includes(e)) return e
    }
    return allowed[0]
  }
}

/** A balancer with no state of its own: it chooses among the candidates of each pick. */
class ChoosingBalancer implements Balancer {
  constructor(
    readonly endpoints: readonly UpstreamEndpoint[],
    private readonly choose: (c: readonly UpstreamEndpoint[]) => UpstreamEndpoint | undefined,
  ) {}

  pick(
    _hash: number | undefined,
    tried: readonly UpstreamEndpoint[] | undefined,
    now: number,
  ): UpstreamEndpoint | undefined {
    return this.choose(candidates(this.endpoints, tried, now))
  }
}

/** Envoy's LEAST_REQUEST: the power of two random choices, the one with fewer active requests. */
function leastRequest(c: readonly UpstreamEndpoint[]): UpstreamEndpoint | undefined {
  if (c.length <= 1) return c[0]
  const a = c[Math.floor(Math.random() * c.length)]!
  let b = c[Math.floor(Math.random() * c.length)]!
  if (b === a) b = c[(c.indexOf(a) + 1) % c.length]!
  // Weights scale the load each endpoint is expected to carry.
  return a.active / a.weight <= b.active / b.weight ? a : b
}

/**
 * A hash ring. Each endpoint's points depend only on its address and weight, so a key moves
 * only when its endpoint leaves (or is ejected); requests without a key are spread at random.
 */
class RingHashBalancer implements Balancer {
  readonly endpoints: readonly UpstreamEndpoint[]
  readonly #points: Uint32Array
  readonly #owners: UpstreamEndpoint[]

  constructor(endpoints: readonly UpstreamEndpoint[]) {
    this.endpoints = endpoints
    const pairs: [number, UpstreamEndpoint][] = []
    for (const e of endpoints) {
      const n = POINTS_PER_WEIGHT * Math.max(1, e.weight)
      for (let i = 0; i < n; i++) pairs.push([hashString(`${e.address}_${i}`), e])
    }
    pairs.sort((x, y) => x[0] - y[0] || (x[1].address < y[1].address ? -1 : 1))
    this.#points = Uint32Array.from(pairs, (p) => p[0])
    this.#owners = pairs.map((p) => p[1])
  }

  pick(
    hash: number | undefined,
    tried: readonly UpstreamEndpoint[] | undefined,
    now: number,
  ): UpstreamEndpoint | undefined {
    if (hash === undefined) return weightedPick(candidates(this.endpoints, tried, now))
    const points = this.#points
    const n = points.length
    if (n === 0) return undefined
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid]! < hash) lo = mid + 1
      else hi = mid
    }
    // Consistent-hash routes do not avoid previous hosts (Istio drops the predicate for them).
    for (let i = 0; i < n; i++) {
      const e = this.#owners[(lo + i) % n]!
      if (isAvailable(e, now)) return e
    }
    return undefined
  }
}

/** FNV-1a over UTF-16 code units with a murmur3 finaliser, as an unsigned 32-bit number. */
export function hashString(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
