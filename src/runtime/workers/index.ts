export {
  runPrimary,
  type PrimaryOptions,
  type SummedMetrics,
  type WorkersReadiness,
} from './primary.js'
export { resolveWorkerCount } from './worker-count.js'
export {
  linkToPrimary,
  primaryChannel,
  workerSlot,
  type WorkerControls,
  type WorkerLink,
} from './worker.js'
