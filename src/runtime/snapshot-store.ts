/**
 * The one place that knows which snapshot is active. The reloader writes it; admin and
 * readiness read it through `view`, which has getters only.
 */
import type { Diagnostic } from '../diag/index.js'
import type * as ir from '../ir/index.js'

/** What asked for a reload. */
export type ReloadTrigger = 'startup' | 'signal' | 'file' | 'admin'
export type ReloadResult = 'applied' | 'rejected' | 'unchanged'

export interface ReloadOutcome {
  readonly result: ReloadResult
  readonly trigger: ReloadTrigger
  /** Version serving after this reload (0: nothing has ever been applied). */
  readonly version: number
  /** Hash of the snapshot serving after this reload. */
  readonly hash: string | undefined
  /** Everything the load and compile of this attempt reported, warnings included. */
  readonly diagnostics: readonly Diagnostic[]
  /** Why the reload failed when the cause is not a config diagnostic (a port in use, ...). */
  readonly error?: string
  /** Epoch milliseconds when the attempt finished. */
  readonly at: number
  readonly durationMs: number
}

export interface ActiveSnapshot {
  readonly snapshot: ir.Snapshot
  /** Counts applied snapshots: 1 is the one the process started with. */
  readonly version: number
  /** Epoch milliseconds when it was swapped in. */
  readonly loadedAt: number
  /** Hash of the source files it came from (config/ sourceHash). */
  readonly sourceHash: string
  readonly files: readonly string[]
}

export interface SnapshotView {
  readonly active: ActiveSnapshot | undefined
  /** Diagnostics of the last load attempt, whatever its result. */
  readonly lastDiagnostics: readonly Diagnostic[]
  readonly lastReload: ReloadOutcome | undefined
  /** Rejected reloads since start. */
  readonly failures: number
  /** Epoch milliseconds of the last attempt that ended applied or unchanged. */
  readonly lastSuccessAt: number | undefined
  /** Set once shutdown begins; readiness answers 503 from then on. */
  readonly isDraining: boolean
  /**
   * Calls `listener` synchronously when the drain begins, so an answer kept elsewhere (the
   * readiness thread's) turns 503 at the same moment as isDraining.
   */
  onDraining(listener: () => void): void
}

export interface SnapshotStore {
  readonly view: SnapshotView
  swap(
    snapshot: ir.Snapshot,
    source: { readonly sourceHash: string; readonly files: readonly string[]; readonly at: number },
  ): ActiveSnapshot
  record(outcome: ReloadOutcome): void
  markDraining(): void
}

export function createSnapshotStore(): SnapshotStore {
  let active: ActiveSnapshot | undefined
  let version = 0
  let lastDiagnostics: readonly Diagnostic[] = []
  let lastReload: ReloadOutcome | undefined
  let failures = 0
  let lastSuccessAt: number | undefined
  let isDraining = false
  const drainListeners: (() => void)[] = []

  const view: SnapshotView = {
    get active() {
      return active
    },
    get lastDiagnostics() {
      return lastDiagnostics
    },
    get lastReload() {
      return lastReload
    },
    get failures() {
      return failures
    },
    get lastSuccessAt() {
      return lastSuccessAt
    },
    get isDraining() {
      return isDraining
    },
    onDraining(listener) {
      drainListeners.push(listener)
    },
  }

  return {
    view,
    swap(snapshot, source) {
      version += 1
      active = Object.freeze({
        snapshot,
        version,
        loadedAt: source.at,
        sourceHash: source.sourceHash,
        files: source.files,
      })
      return active
    },
    record(outcome) {
      lastReload = outcome
      lastDiagnostics = outcome.diagnostics
      if (outcome.result === 'rejected') failures += 1
      else lastSuccessAt = outcome.at
    },
    markDraining() {
      isDraining = true
      for (const listener of drainListeners) listener()
    },
  }
}
