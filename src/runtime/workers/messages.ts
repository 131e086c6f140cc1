/**
 * Control messages between the primary and its workers on the cluster IPC channel (the limit
 * requests of state/ipc share the channel under their own tag).
 */
export const CONTROL = 'portcullis:control'
export const WORKER_STATE = 'portcullis:worker'

/** Primary → worker. */
export interface ControlMessage {
  readonly t: typeof CONTROL
  readonly command: 'reload' | 'shutdown' | 'reopen-logs'
}

/** Worker → primary: serving (every listener bound) or not. */
export interface WorkerStateMessage {
  readonly t: typeof WORKER_STATE
  readonly ready: boolean
}

export function isControl(m: unknown): m is ControlMessage {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === CONTROL
}

export function isWorkerState(m: unknown): m is WorkerStateMessage {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === WORKER_STATE
}

/** The env variable that tells a worker its slot (1..N), stable across restarts of that slot. */
export const WORKER_SLOT_ENV = 'PORTCULLIS_WORKER'

/** Primary → worker: send your metrics exposition, tagged `id`. */
export const METRICS_REQUEST = 'portcullis:metrics?'
/** Worker → primary: the answer to a METRICS_REQUEST. */
export const METRICS_REPLY = 'portcullis:metrics'
/** Worker → primary: admin POST /reload was applied here; reload every other worker too. */
export const RELOAD_OTHERS = 'portcullis:reload-others'

export interface MetricsRequest {
  readonly t: typeof METRICS_REQUEST
  readonly id: number
}

export interface MetricsReply {
  readonly t: typeof METRICS_REPLY
  readonly id: number
  readonly text: string
  readonly contentType: string
}

export interface ReloadOthers {
  readonly t: typeof RELOAD_OTHERS
}

export function isTagged<T extends { readonly t: string }>(m: unknown, t: T['t']): m is T {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === t
}
