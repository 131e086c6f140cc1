/**
 * The worker side of `workers: N`: each worker runs the normal runtime (load, compile, data
 * plane, admin) and follows the primary's control messages; it tells the primary when it serves.
 * A worker whose primary is gone (the IPC channel closed) drains and exits.
 */
import cluster from 'node:cluster'
import type { IpcEndpoint } from '../../state/index.js'
import { isControl, WORKER_SLOT_ENV, WORKER_STATE, type WorkerStateMessage } from './messages.js'

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
}

export interface WorkerLink {
  /** Tells the primary whether this worker serves (counts in the primary's readiness). */
  reportReady(isReady: boolean): void
  /** From now on control messages go to `controls` (before this, a shutdown exits at once). */
  attach(controls: WorkerControls): void
}

export function linkToPrimary(exit: (code: number) => void): WorkerLink {
  let controls: WorkerControls | undefined
  process.on('message', (m: unknown) => {
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
  }
}

function ignore(): void {}
