/**
 * What the runtime drives: the data plane's facade (dataplane/data-plane.ts), restated here so the
 * runtime and its tests depend on the contract, not on the implementation. The real data plane
 * satisfies it structurally.
 */
import type * as ir from '../ir/index.js'

export interface PreparedChange {
  readonly snapshot: ir.Snapshot
}

export interface DataPlaneStats {
  readonly listeners: number
  readonly connections: number
  readonly inflight: number
}

export interface DataPlanePort {
  prepare(snapshot: ir.Snapshot): Promise<PreparedChange>
  activate(change: PreparedChange): void
  abort(change: PreparedChange): Promise<void>
  readonly current: ir.Snapshot | undefined
  readonly ready: boolean
  drain(timeoutMs: number): Promise<{ readonly forcedConnections: number }>
  stats(): DataPlaneStats
}
