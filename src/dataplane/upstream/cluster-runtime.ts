import { isIP } from 'node:net'
import type * as ir from '../../ir/index.js'
import type { Logger } from '../../lib/index.js'
import type { UpstreamEndpoint } from './endpoint.js'
import { endpointAddress, isAvailable } from './endpoint.js'
import { createBalancer } from './balancer.js'
import type { Balancer } from './balancer.js'
import type { HostResolver } from './host-resolver.js'
import { OutlierDetector } from './outlier.js'
import type { EndpointPoolOptions, PoolSet } from './pool-set.js'
import type { SharedPoolLimits } from './shared-pool-limits.js'
import { loadUpstreamTls } from './upstream-tls.js'
import type { UpstreamTls } from './upstream-tls.js'
import { loadMeshUpstreamTls } from './mesh-upstream-tls.js'

/** ISTIO_MUTUAL follows the mesh identity's rotation; other modes read their files once. */
function loadClusterTls(policy: ir.UpstreamTlsPolicy, log: Logger): UpstreamTls {
  return policy.mesh !== undefined
    ? loadMeshUpstreamTls({ ...policy, mesh: policy.mesh }, log)
    : loadUpstreamTls(policy)
}

/** A retry after a failed resolution with nothing cached comes sooner than a normal refresh. */
const FAILED_RESOLUTION_RETRY_MS = 5000
const MIN_REFRESH_DELAY_MS = 10

interface ResolvedName {
  addresses: readonly string[]
  /** Epoch ms after which the answer should be refreshed. */
  refreshAt: number
}

/** Istio's connection-pool limits default to 2^32-1: effectively none. */
const UNLIMITED = 4_294_967_295

/**
 * The live side of one cluster: its endpoints with their pools, the load balancer, circuit
 * breaker counters and outlier state, and for DNS clusters the resolved addresses, refreshed at
 * the answer's TTL (never sooner than the cluster's dnsRefreshMs) and kept when a refresh fails.
 * Lives outside the snapshot, keyed by cluster id, so a reload that leaves the cluster alone
 * keeps all of it. Breaker limits are per process, as in Envoy.
 */
export class ClusterRuntime {
  readonly id: ir.ClusterId
  readonly cluster: ir.Cluster
  /** Equal fingerprints mean the runtime can serve the other snapshot's cluster as is. */
  readonly fingerprint: string
  /** Snapshots holding this runtime; the registry closes it at zero. */
  refs = 0
  /** The consistent-hash key of the cluster's load balancer, if it has one. */
  readonly hashKey: ir.HashKey | undefined
  /**
   * Requests admitted and not finished, and retries in flight (circuit breakers). Only a
   * request's holds (http/request-holds.ts) take and give back slots, through admit/leave.
   */
  #inFlight = 0
  #retriesInFlight = 0
  /**
   * When requests go to the endpoints over HTTP/2: never, always (port protocol HTTP2/GRPC or
   * h2UpgradePolicy UPGRADE), or when the downstream request is HTTP/2 (useClientProtocol).
   */
  readonly http2: UpstreamHttp2
  /** Limits shared with other replicas (set by the registry when Redis is configured). */
  sharedLimits: SharedPoolLimits | undefined = undefined
  readonly #maxInFlight: number
  readonly #maxRetries: number
  readonly #poolOptions: EndpointPoolOptions
  readonly #outlier: OutlierDetector | undefined
  readonly #minHealthPercent: number
  readonly #servername: string | undefined

  #picker: Balancer
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
    const policy = cluster.policy
    const lb = policy?.loadBalancer
    this.hashKey = lb?.kind === 'CONSISTENT_HASH' ? lb.key : undefined
    const cp = policy?.connectionPool
    // HTTP/1.1: one request per connection; beyond maxConnections requests wait as pending.
    const connections = cp?.maxConnections ?? UNLIMITED
    const pending = cp?.maxPendingRequests ?? UNLIMITED
    this.#maxInFlight = Math.min(connections + pending, cp?.maxRequests ?? UNLIMITED)
    this.#maxRetries = cp?.maxRetries ?? UNLIMITED
    this.http2 = upstreamHttp2(cluster)
    this.#poolOptions = {
      connectTimeoutMs: cluster.connectTimeoutMs,
      ...(cp?.maxConnections !== undefined ? { maxConnections: cp.maxConnections } : {}),
      ...(cp?.idleTimeoutMs !== undefined ? { idleTimeoutMs: cp.idleTimeoutMs } : {}),
      ...(cp?.maxRequestsPerConnection !== undefined
        ? { maxRequestsPerConnection: cp.maxRequestsPerConnection }
        : {}),
      ...(cp?.tcpKeepalive?.timeMs !== undefined
        ? { keepaliveTimeMs: cp.tcpKeepalive.timeMs }
        : {}),
      ...(policy?.tls !== undefined ? { tls: loadClusterTls(policy.tls, log) } : {}),
      ...(this.http2 !== 'never'
        ? {
            http2:
              cp?.maxConcurrentStreams !== undefined && cp.maxConcurrentStreams > 0
                ? { maxConcurrentStreams: cp.maxConcurrentStreams }
                : {},
          }
        : {}),
    }
    this.#servername = this.#poolOptions.tls?.servername
    const od = policy?.outlierDetection
    this.#outlier = od !== undefined ? new OutlierDetector(od, cluster.id, log) : undefined
    this.#minHealthPercent = od?.minHealthPercent ?? 0
    this.#picker = createBalancer(lb, [])
    if (this.#needsResolution()) {
      this.#resolving = this.#refresh()
    } else {
      this.#setEndpoints()
    }
  }

  /** TLS origination to this cluster's endpoints (connections made outside the pools). */
  get tls(): UpstreamTls | undefined {
    return this.#poolOptions.tls
  }

  get endpoints(): readonly UpstreamEndpoint[] {
    return this.#picker.endpoints
  }

  /** Present until the first DNS answer (or failure) is in; await it before picking. */
  get resolving(): Promise<void> | undefined {
    return this.#resolving
  }

  /**
   * The endpoint for the next attempt by the cluster's load balancer; undefined when none can
   * take it (503 UH). Below minHealthPercent healthy endpoints, ejections are ignored (Envoy's
   * panic mode).
   */
  pick(
    hash: number | undefined,
    tried?: readonly UpstreamEndpoint[],
  ): UpstreamEndpoint | undefined {
    const now = Date.now()
    const e = this.#picker.pick(hash, tried, now)
    if (this.#minHealthPercent <= 0) return e
    const eps = this.#picker.endpoints
    let healthy = 0
    for (const x of eps) if (isAvailable(x, now)) healthy++
    if (eps.length === 0 || (healthy * 100) / eps.length >= this.#minHealthPercent) return e
    return eps[Math.floor(Math.random() * eps.length)]
  }

  /** Admits one more request, or refuses it when the breaker is full (503 UO). */
  admit(): boolean {
    if (this.#inFlight >= this.#maxInFlight) return false
    this.#inFlight++
    return true
  }

  /** Gives back the slot admit() took, once the request has ended. */
  leave(): void {
    this.#inFlight--
  }

  /** Admits one more retry against connectionPool.http.maxRetries. */
  admitRetry(): boolean {
    if (this.#retriesInFlight >= this.#maxRetries) return false
    this.#retriesInFlight++
    return true
  }

  /** Gives back `count` retries admitRetry() admitted, once their request has ended. */
  leaveRetries(count: number): void {
    this.#retriesInFlight -= count
  }

  get inFlight(): number {
    return this.#inFlight
  }

  get retriesInFlight(): number {
    return this.#retriesInFlight
  }

  /** An upstream answered with `status` (outlier detection). */
  reportStatus(e: UpstreamEndpoint, status: number): void {
    this.#outlier?.onStatus(e, status, this.#picker.endpoints, Date.now())
  }

  /** An attempt failed before a response: connect failure, reset or timeout. */
  reportLocalFailure(e: UpstreamEndpoint): void {
    this.#outlier?.onLocalFailure(e, this.#picker.endpoints, Date.now())
  }

  /** Stops DNS refreshes and lets go of the pools (they close once idle). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#releasePools(this.#picker.endpoints)
    this.#picker = createBalancer(undefined, [])
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
        const { pool, h2Pool, key } = this.#pools.acquire(ip, e.port, this.#poolOptions)
        next.push({
          address: endpointAddress(ip, e.port),
          ip,
          port: e.port,
          weight: e.weight,
          pool,
          h2Pool,
          poolKey: key,
          servername: this.#servername,
          active: 0,
          consecutive5xx: 0,
          consecutiveGateway: 0,
          consecutiveLocal: 0,
          ejectedUntil: 0,
          ejections: 0,
        })
      }
    }
    const previous = this.#picker.endpoints
    if (sameAddresses(previous, next)) {
      // Nothing changed: keep the picker (and its cursor); drop the extra references.
      this.#releasePools(next)
      return
    }
    // Endpoints that stay keep their counters and ejections.
    const kept = new Map(previous.map((p) => [p.address, p]))
    for (let i = 0; i < next.length; i++) {
      const old = kept.get(next[i]!.address)
      if (old !== undefined && old.poolKey === next[i]!.poolKey) {
        this.#pools.release(next[i]!.poolKey)
        next[i] = old
        kept.delete(old.address)
      }
    }
    this.#picker = createBalancer(c.policy?.loadBalancer, next)
    this.#releasePools([...kept.values()])
  }

  #releasePools(endpoints: readonly UpstreamEndpoint[]): void {
    for (const e of endpoints) this.#pools.release(e.poolKey)
  }
}

export type UpstreamHttp2 = 'never' | 'always' | 'client'

/** Istio's cluster protocol rules: the port protocol first, then useClientProtocol, then UPGRADE. */
function upstreamHttp2(cluster: ir.Cluster): UpstreamHttp2 {
  if (cluster.protocol === 'HTTP2' || cluster.protocol === 'GRPC') return 'always'
  const cp = cluster.policy?.connectionPool
  if (cp?.useClientProtocol === true) return 'client'
  return cp?.h2UpgradePolicy === 'UPGRADE' ? 'always' : 'never'
}

function sameAddresses(a: readonly UpstreamEndpoint[], b: readonly UpstreamEndpoint[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.address !== b[i]!.address || a[i]!.weight !== b[i]!.weight) return false
  }
  return true
}
