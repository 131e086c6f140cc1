/**
 * The worker side of `workers: N`: each worker runs the normal runtime (load, compile, data
 * plane, admin) and follows the primary's control messages; it tells the primary when it serves.
 * A worker whose primary is gone (the IPC channel closed) drains and exits.
 */
import cluster from 'node:cluster'
import type { IpcEndpoint } from '../../state/index.js'
import {
  isControl,
  isTagged,
  METRICS_REPLY,
  METRICS_REQUEST,
  RELOAD_OTHERS,
  WORKER_SLOT_ENV,
  WORKER_STATE,
  type MetricsReply,
  type MetricsRequest,
  type ReloadOthers,
  type WorkerStateMessage,
} from './messages.js'

/** This process's worker slot (1..N) when it is a cluster worker, else undefined. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined
  const n = Number(process.env[WORKER_SLOT_ENV])
  return Number.isInteger(n) && n > 0 ? n : cluster.worker?.id
}

/** The IPC channel to the primary, as the state/ipc limit store wants it. */
export const primaryChannel: IpcEndpoint = {
  send: (message, callback) =>
    process.send?.(message, undefined, undefined, callback ?? ignore) ?? false,
}

export interface WorkerControls {
  reload(): void
  shutdown(reason: string): void
  reopenLogs(): void
  /** This worker's metrics exposition, for the primary to sum with the others'. */
  metricsText(): Promise<string>
  readonly metricsContentType: string
}

export interface WorkerLink {
  /** Tells the primary whether this worker serves (counts in the primary's readiness). */
  reportReady(isReady: boolean): void
  /** From now on control messages go to `controls` (before this, a shutdown exits at once). */
  attach(controls: WorkerControls): void
  /** An admin reload was applied in this worker: the primary reloads the other workers. */
  reloadOthers(): void
}

export function linkToPrimary(exit: (code: number) => void): WorkerLink {
  let controls: WorkerControls | undefined
  process.on('message', (m: unknown) => {
    if (isTagged<MetricsRequest>(m, METRICS_REQUEST)) {
      void answerMetrics(controls, m.id)
      return
    }
    if (!isControl(m)) return
    if (m.command === 'shutdown') {
      if (controls === undefined) exit(1)
      else controls.shutdown('primary')
    } else if (m.command === 'reload') controls?.reload()
    else controls?.reopenLogs()
  })
  process.on('disconnect', () => {
    if (controls === undefined) exit(1)
    else controls.shutdown('the primary is gone')
  })
  return {
    reportReady(isReady) {
      primaryChannel.send({ t: WORKER_STATE, ready: isReady } satisfies WorkerStateMessage)
    },
    attach(c) {
      controls = c
    },
    reloadOthers() {
      primaryChannel.send({ t: RELOAD_OTHERS } satisfies ReloadOthers)
    },
  }
}

/** An empty exposition before the runtime is attached, or when rendering fails (logged there). */
async function answerMetrics(controls: WorkerControls | undefined, id: number): Promise<void> {
  let text: string
  try {
    text = (await controls?.metricsText()) ?? ''
  } catch {
    text = ''
  }
  primaryChannel.send({
    t: METRICS_REPLY,
    id,
    text,
    contentType: controls?.metricsContentType ?? 'text/plain; version=0.0.4; charset=utf-8',
  } satisfies MetricsReply)
}

function ignore(): void {}
