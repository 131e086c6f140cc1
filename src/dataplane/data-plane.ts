/**
 * The data plane as the runtime sees it: prepare a snapshot (bind new ports, compile matchers,
 * attach upstream clusters) without touching traffic, then activate it in one swap.
 */
import type * as ir from '../ir/index.js'
import type { ClusterStatus } from './cluster-status.js'

export interface PreparedChange {
  readonly snapshot: ir.Snapshot
}

export interface DataPlane {
  /**
   * Binds listeners of `snapshot` that are not bound yet and prepares routing and clusters.
   * Traffic is untouched. Rejects (after releasing what it took) when a port cannot be bound.
   */
  prepare(snapshot: ir.Snapshot): Promise<PreparedChange>
  /** One swap: new requests see the new snapshot; removed listeners drain. */
  activate(change: PreparedChange): void
  /** Releases what prepare took (a reload that failed later). */
  abort(change: PreparedChange): Promise<void>
  /** The snapshot new requests are served from. */
  readonly current: ir.Snapshot | undefined
  /** Every listener of the current snapshot is bound. */
  readonly ready: boolean
  /**
   * Graceful stop: stop accepting, let in-flight requests finish (HTTP/1 gets Connection:
   * close), close idle connections; at timeoutMs destroy what is left. Then release upstreams.
   */
  drain(timeoutMs: number): Promise<{ readonly forcedConnections: number }>
  /** The active snapshot's clusters with their endpoints' live state (admin `/clusters`). */
  clusters(): readonly ClusterStatus[]
  stats(): { readonly listeners: number; readonly connections: number; readonly inflight: number }
}
