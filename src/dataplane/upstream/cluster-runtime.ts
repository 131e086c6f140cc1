import { isIP } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { UpstreamEndpoint } from './endpoint.js'
import { endpointAddress } from './endpoint.js'
import { EndpointPicker } from './endpoint-picker.js'
import type { HostResolver } from './host-resolver.js'
import type { PoolSet } from './pool-set.js'

/** A retry after a failed resolution with nothing cached comes sooner than a normal refresh. */
const FAILED_RESOLUTION_RETRY_MS = 5000
const MIN_REFRESH_DELAY_MS = 10

interface ResolvedName {
  addresses: readonly string[]
  /** Epoch ms after which the answer should be refreshed. */
  refreshAt: number
}

/**
 * The live side of one cluster: its endpoints with their pools, the load-balancer cursor, and
 * for DNS clusters the resolved addresses, refreshed at the answer's TTL (never sooner than the
 * cluster's dnsRefreshMs) and kept when a refresh fails. Lives outside the snapshot, keyed by
 * cluster id, so a reload that leaves the endpoints alone keeps all of it.
 */
export class ClusterRuntime {
  readonly id: ir.ClusterId
  readonly cluster: ir.Cluster
  /** Equal fingerprints mean the runtime can serve the other snapshot's cluster as is. */
  readonly fingerprint: string
  /** Snapshots holding this runtime; the registry closes it at zero. */
  refs = 0

  #picker: EndpointPicker
  #resolving: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false
  readonly #names = new Map<string, ResolvedName>()
  readonly #pools: PoolSet
  readonly #resolver: HostResolver
  readonly #log: Logger

  constructor(
    cluster: ir.Cluster,
    fingerprint: string,
    pools: PoolSet,
    resolver: HostResolver,
    log: Logger,
  ) {
    this.id = cluster.id
    this.cluster = cluster
    this.fingerprint = fingerprint
    this.#pools = pools
    this.#resolver = resolver
    this.#log = log
    this.#picker = new EndpointPicker([])
    if (this.#needsResolution()) {
      this.#resolving = this.#refresh()
    } else {
      this.#setEndpoints()
    }
  }

  get endpoints(): readonly UpstreamEndpoint[] {
    return this.#picker.endpoints
  }

  /** Present until the first DNS answer (or failure) is in; await it before picking. */
  get resolving(): Promise<void> | undefined {
    return this.#resolving
  }

  /** Round robin by weight; undefined when there is no endpoint (503 UH). */
  pick(tried?: readonly UpstreamEndpoint[]): UpstreamEndpoint | undefined {
    return tried === undefined || tried.length === 0
      ? this.#picker.pick()
      : this.#picker.pickAvoiding(tried)
  }

  /** Stops DNS refreshes and lets go of the pools (they close once idle). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#releasePools(this.#picker.endpoints)
    this.#picker = new EndpointPicker([])
  }

  #needsResolution(): boolean {
    return this.cluster.endpoints.some((e) => isIP(e.address) === 0)
  }

  async #refresh(): Promise<void> {
    const names = new Set(
      this.cluster.endpoints.filter((e) => isIP(e.address) === 0).map((e) => e.address),
    )
    await Promise.all(
      [...names].map(async (name) => {
        try {
          const answer = await this.#resolver.resolve(name)
          const ttl = Math.max(answer.ttlMs ?? 0, this.cluster.dnsRefreshMs)
          this.#names.set(name, { addresses: answer.addresses, refreshAt: Date.now() + ttl })
        } catch (err) {
          const last = this.#names.get(name)
          const wait = last === undefined ? FAILED_RESOLUTION_RETRY_MS : this.cluster.dnsRefreshMs
          this.#names.set(name, {
            addresses: last?.addresses ?? [],
            refreshAt: Date.now() + Math.min(wait, this.cluster.dnsRefreshMs),
          })
          this.#log.warn('upstream name did not resolve', {
            cluster: this.id,
            name,
            keptAddresses: last?.addresses.length ?? 0,
            err,
          })
        }
      }),
    )
    this.#resolving = undefined
    if (this.#closed) return
    this.#setEndpoints()
    let next = Infinity
    for (const r of this.#names.values()) next = Math.min(next, r.refreshAt)
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        void this.#refresh()
      },
      // `next` already honours dnsRefreshMs; the floor only guards against a busy loop.
      Math.max(next - Date.now(), MIN_REFRESH_DELAY_MS),
    )
    this.#timer.unref()
  }

  /** Builds the endpoint list from the IR and the DNS answers; unchanged pools are kept. */
  #setEndpoints(): void {
    const c = this.cluster
    const next: UpstreamEndpoint[] = []
    for (const e of c.endpoints) {
      let ips: readonly string[]
      if (isIP(e.address) !== 0) ips = [e.address]
      else {
        const all = this.#names.get(e.address)?.addresses ?? []
        // DNS_ROUND_ROBIN (Envoy LOGICAL_DNS) connects to one address of the answer at a time.
        ips = c.resolution === 'DNS_ROUND_ROBIN' ? all.slice(0, 1) : all
      }
      for (const ip of ips) {
        next.push({
          address: endpointAddress(ip, e.port),
          ip,
          port: e.port,
          weight: e.weight,
          pool: this.#pools.acquire(ip, e.port, c.connectTimeoutMs),
        })
      }
    }
    const previous = this.#picker.endpoints
    if (sameAddresses(previous, next)) {
      // Nothing changed: keep the picker (and its cursor); drop the extra references.
      this.#releasePools(next)
      return
    }
    this.#picker = new EndpointPicker(next)
    this.#releasePools(previous)
  }

  #releasePools(endpoints: readonly UpstreamEndpoint[]): void {
    for (const e of endpoints) this.#pools.release(e.ip, e.port, this.cluster.connectTimeoutMs)
  }
}

function sameAddresses(a: readonly UpstreamEndpoint[], b: readonly UpstreamEndpoint[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.address !== b[i]!.address || a[i]!.weight !== b[i]!.weight) return false
  }
  return true
}
