import type { AcmePlan } from './acme.js'
import type { Cluster } from './cluster.js'
import type { Egress } from './egress.js'
import type { ClusterId } from './ids.js'
import type { RateLimitPolicy } from './limits.js'
import type { Listener } from './listener.js'
import type { GatewaySettings } from './settings.js'
import type { TracingPlan } from './tracing.js'

/**
 * The compiled, immutable configuration the data plane serves from. Produced by compile/ (a pure
 * function), deep-frozen, swapped in atomically by runtime/.
 */
export interface Snapshot {
  /**
   * sha256 of the canonical JSON of everything below, each route standing as its own digest
   * (compile/snapshot-hash.ts); an equal hash means an identical config.
   */
  readonly hash: string
  readonly settings: GatewaySettings
  /** Sorted by port. */
  readonly listeners: readonly Listener[]
  readonly clusters: Readonly<Record<ClusterId, Cluster>>
  /** The outbound allowlist and listener; absent in snapshots built before egress existed. */
  readonly egress?: Egress
  /** RateLimitPolicies in file order; absent when there are none. */
  readonly rateLimits?: readonly RateLimitPolicy[]
  /** Certificates obtained from ACME issuers; absent when there are none. */
  readonly acme?: AcmePlan
  /** Spans, sampling and tags (Telemetry tracing); absent when tracing is off. */
  readonly tracing?: TracingPlan
}
