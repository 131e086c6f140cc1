import type * as ir from '../../ir/index.js'
import { canonicalJson } from '../../lib/index.js'
import type { Logger } from '../../lib/index.js'
import { ClusterRuntime } from './cluster-runtime.js'
import { createHostResolver } from './host-resolver.js'
import type { HostResolver, HostResolverOptions } from './host-resolver.js'
import { DEFAULT_POOL_SETTINGS, PoolSet } from './pool-set.js'
import type { PoolSettings } from './pool-set.js'
import { createSharedPoolLimits, type SharedPoolLimitsOptions } from './shared-pool-limits.js'

/**
 * Cluster runtime state that outlives reloads. Each prepared snapshot acquires one runtime per
 * cluster and releases them when it is retired. A runtime is reused while the cluster id, its
 * endpoints and its traffic policy are unchanged (pools, keep-alive connections, the LB cursor,
 * breaker counters and outlier ejections carry over); a changed cluster gets a fresh runtime, and the old one closes its pools once the
 * last snapshot using it is released and its in-flight requests have finished.
 */
export interface UpstreamRegistry {
  acquire(cluster: ir.Cluster): ClusterRuntime
  release(runtime: ClusterRuntime): void
  stats(): { readonly clusters: number; readonly pools: number }
  /** Shutdown: destroys every pool (call after draining). */
  close(): Promise<void>
}

export interface UpstreamRegistryOptions {
  readonly log: Logger
  readonly pool?: Partial<PoolSettings>
  readonly dns?: HostResolverOptions
  /** Replaces the DNS resolver (tests). */
  readonly resolver?: HostResolver
  /**
   * Connection-pool limits across replicas (a limit store shared through Redis). Without it
   * the limits are per process, as in Envoy.
   */
  readonly shared?: SharedPoolLimitsOptions
}

export function createUpstreamRegistry(opts: UpstreamRegistryOptions): UpstreamRegistry {
  const log = opts.log.child({ component: 'upstream' })
  const pools = new PoolSet({ ...DEFAULT_POOL_SETTINGS, ...opts.pool }, log)
  const resolver = opts.resolver ?? createHostResolver(opts.dns)
  const current = new Map<ir.ClusterId, ClusterRuntime>()
  const live = new Set<ClusterRuntime>()

  return {
    acquire(cluster) {
      const fingerprint = fingerprintOf(cluster)
      let runtime = current.get(cluster.id)
      if (runtime === undefined || runtime.fingerprint !== fingerprint) {
        runtime = new ClusterRuntime(cluster, fingerprint, pools, resolver, log)
        if (opts.shared !== undefined) {
          runtime.sharedLimits = createSharedPoolLimits(cluster, opts.shared)
        }
        current.set(cluster.id, runtime)
        live.add(runtime)
      }
      runtime.refs++
      return runtime
    },
    release(runtime) {
      if (--runtime.refs > 0) return
      runtime.close()
      live.delete(runtime)
      if (current.get(runtime.id) === runtime) current.delete(runtime.id)
    },
    stats() {
      return { clusters: live.size, pools: pools.size }
    },
    async close() {
      for (const r of live) r.close()
      live.clear()
      current.clear()
      await pools.destroyAll()
    },
  }
}

/** What decides whether a runtime can be reused: everything about reaching the endpoints. */
function fingerprintOf(c: ir.Cluster): string {
  return canonicalJson({
    resolution: c.resolution,
    protocol: c.protocol,
    endpoints: c.endpoints.map((e) => [e.address, e.port, e.weight]),
    connectTimeoutMs: c.connectTimeoutMs,
    dnsRefreshMs: c.dnsRefreshMs,
    policy: c.policy ?? null,
  })
}
