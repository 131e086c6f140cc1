/**
 * runtime/: owns the active snapshot and changes it: reloads (signal, file watch, admin), the
 * first start's apply, and the drain on shutdown.
 */
export { buildSnapshot, type BuildResult, type CompileFn, type LoadFn } from './build.js'
export type {
  ClusterStatus,
  DataPlanePort,
  DataPlaneStats,
  PreparedChange,
} from './data-plane-port.js'
export {
  createLifecycle,
  DEFAULT_DRAIN_TIMEOUT_MS,
  type Closeable,
  type Lifecycle,
  type LifecycleOptions,
  type ObserverControls,
  type SignalSource,
} from './lifecycle.js'
export {
  createReloader,
  type PreparedStep,
  type Reloader,
  type ReloaderOptions,
  type ReloadParticipant,
} from './reloader.js'
export { logDiagnostics } from './report.js'
export {
  createOverloadMonitor,
  type OverloadMonitor,
  type OverloadState,
} from './overload-monitor.js'
export { createRuntimeView, type AcmeCertificateView, type RuntimeView } from './runtime-view.js'
export {
  createSnapshotStore,
  type ActiveSnapshot,
  type ReloadOutcome,
  type ReloadResult,
  type ReloadTrigger,
  type SnapshotStore,
  type SnapshotView,
} from './snapshot-store.js'
export {
  hashConfigFiles,
  watchConfig,
  type ConfigWatcher,
  type ConfigWatcherOptions,
} from './watcher.js'
export { createLimitStoreFor, sharedPoolLimitsFor } from './limit-store.js'
export {
  linkToPrimary,
  resolveWorkerCount,
  runPrimary,
  workerSlot,
  type PrimaryOptions,
  type SummedMetrics,
  type WorkerControls,
  type WorkerLink,
  type WorkersReadiness,
} from './workers/index.js'
