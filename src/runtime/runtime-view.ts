/**
 * What admin/ and the readiness endpoint may see and do: read the active snapshot and the last
 * reload, ask for a reload, read data-plane counters. Nothing here reaches data-plane internals.
 */
import type { DataPlanePort, DataPlaneStats } from './data-plane-port.js'
import type { Reloader } from './reloader.js'
import type { ReloadOutcome, SnapshotView } from './snapshot-store.js'

export interface RuntimeView {
  readonly snapshots: SnapshotView
  /** A snapshot is active, every listener is bound, and no drain has begun. */
  isReady(): boolean
  stats(): DataPlaneStats
  reload(): Promise<ReloadOutcome>
}

export function createRuntimeView(deps: {
  readonly snapshots: SnapshotView
  readonly dataPlane: Pick<DataPlanePort, 'ready' | 'stats'>
  readonly reloader: Pick<Reloader, 'reload'>
}): RuntimeView {
  const { snapshots, dataPlane, reloader } = deps
  return {
    snapshots,
    isReady: () => !snapshots.isDraining && snapshots.active !== undefined && dataPlane.ready,
    stats: () => dataPlane.stats(),
    reload: () => reloader.reload('admin'),
  }
}
